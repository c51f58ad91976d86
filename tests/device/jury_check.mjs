// Runs the browser's jury-vote modules (backend/web/static/js/device/typed_data.js, jury_signing.js's
// pure parts, wallet.js's guard) under node on cases read as JSON from stdin; prints one JSON report
// for tests/device/test_jury_vote_typed_data.py to compare with the Python builders and the vectors.
//
//   stdin: {"cases": [{name, domain, privateKey, claimId, round, approve, commitment?}]}
import { readFileSync } from "node:fs";
import { addressOf, bytesToHex, hexToBytes } from "../../backend/web/static/js/device/keystore.js";
import {
  hashTypedData, recoverTypedDataSigner, saltFromSignature, signTypedData, voteCommitTypedData, voteCommitment, voteSaltTypedData,
} from "../../backend/web/static/js/device/typed_data.js";
import { deriveVoteSalt, openCommitment, signCommit, signReveal } from "../../backend/web/static/js/device/jury_signing.js";
import { DeviceSigner, signHubaoTypedData } from "../../backend/web/static/js/device/wallet.js";
import { secp256k1 } from "../../backend/web/static/vendor/noble/curves/secp256k1.js";

/** A wallet whose signatures are hedged (random nonces): valid, but not re-derivable. */
function hedgedWallet(key) {
  return {
    kind: "wallet",
    address: addressOf(key),
    async signTypedData(doc) {
      const rec = secp256k1.sign(hashTypedData(doc), key, { prehash: false, format: "recovered", lowS: true, extraEntropy: true });
      const sig = new Uint8Array(65);
      sig.set(rec.subarray(1, 65), 0);
      sig[64] = rec[0] + 27;
      return hex(sig);
    },
    lock() {},
  };
}

const request = JSON.parse(readFileSync(0, "utf8"));
const hex = (b) => `0x${bytesToHex(b)}`;
const report = { cases: [] };

for (const c of request.cases) {
  const key = hexToBytes(c.privateKey);
  const juror = addressOf(key);
  const saltDoc = voteSaltTypedData(c.domain, { claimId: c.claimId, round: c.round });
  const saltSignature = signTypedData(saltDoc, key);
  const salt = saltFromSignature(saltSignature);
  const commitment = voteCommitment(c.claimId, c.round, juror, c.approve, salt);
  const commitDoc = voteCommitTypedData(c.domain, { claimId: c.claimId, round: c.round, commitment });
  const commitSignature = signTypedData(commitDoc, key);
  const signer = new DeviceSigner(key.slice());
  const vote = { juror, claimId: c.claimId, round: c.round, saltTypedData: saltDoc, commitment };
  const viaSigner = await deriveVoteSalt(signer, saltDoc, vote);
  const commitBody = await signCommit(signer, vote, c.approve);
  const revealBody = await signReveal(signer, vote);
  let refused = null;
  try {
    await signHubaoTypedData(signer, saltDoc);
  } catch (err) {
    refused = err.code;
  }
  let wrongDoc = null;
  try {
    await deriveVoteSalt(signer, saltDoc, { ...vote, round: c.round + 1 });
  } catch (err) {
    wrongDoc = err.code;
  }
  let hedged = null;
  try {
    await signCommit(hedgedWallet(key), vote, c.approve);
  } catch (err) {
    hedged = err.code;
  }
  report.cases.push({
    name: c.name,
    juror,
    voteSaltDigest: hex(hashTypedData(saltDoc)),
    voteSaltSignature: saltSignature,
    salt,
    saltViaSigner: viaSigner,
    commitment,
    voteCommitDigest: hex(hashTypedData(commitDoc)),
    voteCommitSignature: commitSignature,
    commitSigner: recoverTypedDataSigner(commitDoc, commitSignature),
    commitBody,
    revealBody,
    opensOther: openCommitment({ ...vote, commitment: voteCommitment(c.claimId, c.round, juror, !c.approve, salt) }, salt),
    opensForeign: openCommitment({ ...vote, commitment: c.foreignCommitment || `0x${"ab".repeat(32)}` }, salt),
    refusedToSendSalt: refused,
    wrongDocument: wrongDoc,
    hedgedWallet: hedged,
  });
  signer.lock();
}
process.stdout.write(JSON.stringify(report));
