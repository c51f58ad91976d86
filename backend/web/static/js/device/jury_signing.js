// The juror's side of device-signed jury votes (ClaimLedger 2: commitVoteBySig, revealVote).
//
//   salt       = keccak256(signature of VoteSalt(claimId, round)) — made here, kept here;
//   commitment = keccak256(abi.encode(claimId, round, juror, approve, salt));
//   commit     : sign VoteCommit(claimId, round, commitment), send {commitment, signature} to relay;
//   reveal     : re-derive the salt, send {approve, salt} (the only time the salt leaves the device).
//
// A lost tab loses nothing and this page stores nothing: RFC 6979 signatures are deterministic, so
// the same key (device keystore, browser wallet or `hubao sign vote`) re-derives the same salt, and the
// vote itself is recovered by opening the on-chain commitment both ways (approve / reject) with that
// salt. Nobody without the juror's key can do the same, so nothing about the vote is kept anywhere
// before the reveal: not in localStorage, not on the server.

import { api } from "../api.js";
import { checkHubaoDomain, recoverTypedDataSigner, saltFromSignature, voteCommitTypedData, voteCommitment } from "./typed_data.js";
import { SignerError, signHubaoTypedData } from "./wallet.js";

const same = (a, b) => String(a).toLowerCase() === String(b).toLowerCase();

/**
 * Derive the round's salt with `signer` from the server's VoteSalt document `doc`, which must be a
 * Hubao VoteSalt for `vote.claimId` and `vote.round`. The signature never leaves this function.
 */
export async function deriveVoteSalt(signer, doc, vote) {
  checkHubaoDomain(doc, { primaryType: "VoteSalt" });
  const m = doc.message || {};
  if (!same(m.claimId, vote.claimId) || Number(m.round) !== Number(vote.round)) {
    throw new SignerError("WRONG_DOCUMENT", "the salt document is for another claim or round: nothing was signed");
  }
  const signature = await signer.signTypedData(doc);
  if (recoverTypedDataSigner(doc, signature) !== signer.address) {
    throw new SignerError("WRONG_SIGNER", "the salt was not signed by your key");
  }
  return saltFromSignature(signature);
}

/** Which vote `salt` opens `vote.commitment` to: true (approve), false (reject), or null (neither). */
export function openCommitment(vote, salt) {
  if (!vote.commitment) return null;
  for (const approve of [true, false]) {
    if (same(voteCommitment(vote.claimId, vote.round, vote.juror, approve, salt), vote.commitment)) return approve;
  }
  return null;
}

function checkSigner(signer, vote) {
  if (!vote.juror || !same(signer.address, vote.juror)) {
    throw new SignerError("WRONG_SIGNER", `your seat is held by ${vote.juror}, this key is ${signer.address}`);
  }
}

/**
 * The commit for `approve` signed by `signer`: {commitment, signature} (public values only).
 * `vote` is the case's vote section from the server: {juror, claimId, round, saltTypedData, ...}.
 */
export async function signCommit(signer, vote, approve) {
  checkSigner(signer, vote);
  const salt = await deriveVoteSalt(signer, vote.saltTypedData, vote);
  // A wallet must sign deterministically (RFC 6979) or the salt could not be re-derived at reveal
  // time: ask twice before committing anything (this page's own keystore signs with noble, RFC 6979).
  if (signer.kind !== "device" && (await deriveVoteSalt(signer, vote.saltTypedData, vote)) !== salt) {
    throw new SignerError("NONDETERMINISTIC_WALLET", "this wallet's signatures are not deterministic: it could not reveal this vote; nothing was sent");
  }
  const commitment = voteCommitment(vote.claimId, vote.round, signer.address, approve, salt);
  const doc = voteCommitTypedData(vote.saltTypedData.domain, { claimId: vote.claimId, round: vote.round, commitment });
  const signed = await signHubaoTypedData(signer, doc, { primaryType: "VoteCommit" });
  return { commitment, signature: signed.signature };
}

/** Sign the commit on this device and hand it to the server to relay. */
export async function commitJuryVote(claimPk, signer, vote, approve) {
  const body = await signCommit(signer, vote, approve);
  return api(`/jury/claims/${claimPk}/commit`, { method: "POST", json: body });
}

/** The vote this device committed (re-derived, nothing sent): true, false, or null when the key does not open it. */
export async function myCommittedVote(signer, vote) {
  checkSigner(signer, vote);
  return openCommitment(vote, await deriveVoteSalt(signer, vote.saltTypedData, vote));
}

/** The reveal: {approve, salt}, opened here against the on-chain commitment. */
export async function signReveal(signer, vote) {
  checkSigner(signer, vote);
  const salt = await deriveVoteSalt(signer, vote.saltTypedData, vote);
  const approve = openCommitment(vote, salt);
  if (approve === null) throw new SignerError("COMMITMENT_MISMATCH", "this key's salt does not open your commitment: nothing was sent");
  return { approve, salt };
}

/** Re-derive the salt on this device and send {approve, salt}: the reveal anyone could relay. */
export async function revealJuryVote(claimPk, signer, vote) {
  const body = await signReveal(signer, vote);
  return api(`/jury/claims/${claimPk}/reveal`, { method: "POST", json: body });
}
