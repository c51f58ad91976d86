// The claimant's per-claim keys and the member actions they sign (issue 14 item 4).
//
// At filing, this browser makes a fresh secp256k1 key for the claim; only its address goes to the
// server, which binds it into the claim id on ClaimLedger. The key is kept here encrypted under the
// member's passphrase (keystore v3, exportable: `hubao sign typed-data --keystore` and any wallet read
// it). A withdrawal or an appeal is the server's draft (EIP-712 Withdrawal / Appeal) signed here with
// that key: the contract refuses any other signer, so the operator cannot act in the member's name.
// An objection is signed by a fresh key made for it alone (never kept: nothing else needs it).
// One key per claim keeps a member's claims unlinkable on chain.

import { KeystoreError, addressOf, checksumAddress, downloadKeystore, encryptKeystore, generatePrivateKey, loadKeystore, saveKeystore } from "./keystore.js";
import { DeviceSigner, SignerError, signHubaoTypedData } from "./wallet.js";

const account = (address) => `claim:${String(address).toLowerCase()}`;

/** Make this claim's key in this browser, kept encrypted under `passphrase`; resolves to {address, keystore}. */
export async function createClaimKey(passphrase, options = {}) {
  if (!passphrase || passphrase.length < 8) throw new KeystoreError("WRONG_PASSPHRASE", "choose a passphrase of at least 8 characters");
  const privateKey = generatePrivateKey();
  try {
    const keystore = await encryptKeystore(privateKey, passphrase, options);
    const address = addressOf(privateKey);
    saveKeystore(account(address), keystore, options.store);
    return { address, keystore };
  } finally {
    privateKey.fill(0);
  }
}

/** Whether this browser holds the key of the claim whose key address is `address`. */
export function hasClaimKey(address, store) {
  return Boolean(address) && loadKeystore(account(address), store) !== null;
}

/** Offer the claim's key as a keystore v3 file (encrypted; nothing is sent anywhere). */
export function exportClaimKey(address, documentRef = globalThis.document, store) {
  const keystore = loadKeystore(account(address), store);
  if (!keystore) throw new SignerError("NO_KEY", "this browser does not hold this claim's key");
  return downloadKeystore(keystore, documentRef);
}

/** Check the server's draft is the action asked for, on this claim, for this claim's key. */
function checkDraft(draft, kind, claimId, signer) {
  const doc = draft.typedData;
  if (!doc || doc.primaryType !== kind || String(doc.message.claimId).toLowerCase() !== String(claimId).toLowerCase()) {
    throw new SignerError("DRAFT_MISMATCH", `the server's draft is not a ${kind} of this claim: nothing was signed`);
  }
  if (signer && (!draft.signer || checksumAddress(draft.signer) !== checksumAddress(signer))) {
    throw new SignerError("WRONG_SIGNER", "the server's draft is for another key than this claim's");
  }
  return doc;
}

/**
 * Sign the server's Withdrawal or Appeal draft with the claim's key (unlocked with `passphrase`);
 * resolves to the body the API relays: {deadline, signature}.
 */
export async function signClaimAction(draft, kind, claim, passphrase, options = {}) {
  const doc = checkDraft(draft, kind, claim.claimId, claim.claimantKey);
  const signer = await DeviceSigner.unlock(account(claim.claimantKey), passphrase, options);
  try {
    const signed = await signHubaoTypedData(signer, doc, { primaryType: kind });
    return { deadline: Number(doc.message.deadline), signature: signed.signature };
  } finally {
    signer.lock();
  }
}

/** Sign the server's Objection draft with a fresh key made for it; resolves to {objectorKey, deadline, signature}. */
export async function signObjection(draft, claimId) {
  const doc = checkDraft(draft, "Objection", claimId, null);
  const key = generatePrivateKey();
  const signer = new DeviceSigner(key);
  try {
    const signed = await signHubaoTypedData(signer, doc, { primaryType: "Objection" });
    return { objectorKey: addressOf(key), deadline: Number(doc.message.deadline), signature: signed.signature };
  } finally {
    signer.lock();
  }
}
