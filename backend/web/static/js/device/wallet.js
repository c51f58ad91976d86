// Who signs on this device: an injected EIP-1193 wallet (window.ethereum: eth_signTypedData_v4)
// where the browser has one and the participant chooses it, otherwise the device keystore
// (keystore.js) unlocked with the participant's passphrase. Either way the page signs the exact
// typed-data document the server handed out, after checking it is a Hubao message, and checks
// that the signature recovers to the signer before anything is sent. The key never leaves the page:
// what goes to the server is {address, signature}.

import { KeystoreError, checksumAddress, decryptKeystore, loadKeystore } from "./keystore.js";
import { addressOf, checkHubaoDomain, hashTypedData, recoverTypedDataSigner, signTypedData, TypedDataError } from "./typed_data.js";

export class SignerError extends Error {
  /** `code`: NO_WALLET, WALLET_REFUSED, WRONG_SIGNER, WRONG_ACCOUNT, PRIVATE_DOCUMENT, WRONG_DOCUMENT. */
  constructor(code, message) {
    super(message);
    this.name = "SignerError";
    this.code = code;
  }
}

/** The injected EIP-1193 provider (window.ethereum), or null. */
export function injectedProvider(win = globalThis.window) {
  const eth = win && win.ethereum;
  return eth && typeof eth.request === "function" ? eth : null;
}

/** Normalise a wallet's signature to r ‖ s ‖ v with v ∈ {27, 28} (some wallets answer v ∈ {0, 1}). */
export function normaliseSignature(signature) {
  if (typeof signature !== "string" || !/^0x[0-9a-f]{130}$/i.test(signature)) throw new SignerError("WALLET_REFUSED", "the wallet returned no 65-byte signature");
  const v = parseInt(signature.slice(130), 16);
  const fixed = v < 27 ? v + 27 : v;
  return `${signature.slice(0, 130).toLowerCase()}${fixed.toString(16).padStart(2, "0")}`;
}

/** Signs with an injected wallet's eth_signTypedData_v4; the wallet shows the message to its owner. */
export class WalletSigner {
  constructor(provider, address) {
    this.kind = "wallet";
    this.provider = provider;
    this.address = checksumAddress(address);
  }

  static async connect(provider = injectedProvider()) {
    if (!provider) throw new SignerError("NO_WALLET", "no browser wallet found");
    let accounts;
    try {
      accounts = await provider.request({ method: "eth_requestAccounts" });
    } catch (err) {
      throw new SignerError("WALLET_REFUSED", `the wallet refused to connect: ${err && err.message ? err.message : err}`);
    }
    if (!Array.isArray(accounts) || !accounts.length) throw new SignerError("WALLET_REFUSED", "the wallet shared no account");
    return new WalletSigner(provider, accounts[0]);
  }

  async signTypedData(doc) {
    let signature;
    try {
      signature = await this.provider.request({ method: "eth_signTypedData_v4", params: [this.address, JSON.stringify(doc)] });
    } catch (err) {
      throw new SignerError("WALLET_REFUSED", `the wallet did not sign: ${err && err.message ? err.message : err}`);
    }
    return normaliseSignature(signature);
  }

  lock() {}
}

/** Signs with the key kept (encrypted) in this browser; the decrypted key lives only in this object until lock(). */
export class DeviceSigner {
  constructor(privateKey) {
    this.kind = "device";
    this.privateKey = privateKey;
    this.address = addressOf(privateKey);
  }

  /** Decrypt the keystore kept for `account` with `passphrase` (slow on purpose: scrypt). */
  static async unlock(account, passphrase, options = {}) {
    const keystore = loadKeystore(account, options.store);
    if (!keystore) throw new KeystoreError("NO_KEY", "this browser holds no signing key for your account yet");
    return new DeviceSigner(await decryptKeystore(keystore, passphrase, options));
  }

  async signTypedData(doc) {
    if (!this.privateKey) throw new KeystoreError("NO_KEY", "the key is locked");
    return signTypedData(doc, this.privateKey);
  }

  lock() {
    if (this.privateKey) this.privateKey.fill(0);
    this.privateKey = null;
  }
}

/**
 * Sign the Hubao typed-data document `doc` (as the server handed it out) with `signer`.
 * `expect` narrows what is acceptable ({primaryType, chainId, verifyingContract}). Returns
 * {signer: address, signature, digest}: only public values.
 */
export async function signHubaoTypedData(signer, doc, expect = {}) {
  checkHubaoDomain(doc, expect);
  // A VoteSalt signature IS a vote's secret salt (jury_signing.js derives it and keeps it here):
  // nothing that returns a signature to be sent may make one.
  if (doc.primaryType === "VoteSalt") throw new SignerError("PRIVATE_DOCUMENT", "a VoteSalt is never signed to be sent");
  const digest = hashTypedData(doc);
  const signature = await signer.signTypedData(doc);
  const recovered = recoverTypedDataSigner(doc, signature);
  if (recovered !== signer.address) throw new SignerError("WRONG_SIGNER", `the signature recovers to ${recovered}, not ${signer.address}`);
  return { signer: signer.address, signature, digest: `0x${Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("")}` };
}

/**
 * Prove possession of `signer`'s key for a registration: the server's KeyRegistration challenge
 * must name this key and `account`, and not be expired; the signed answer is {signer, signature, digest}.
 */
export async function proveKeyPossession(signer, challengeDoc, account, now = Date.now()) {
  checkHubaoDomain(challengeDoc, { primaryType: "KeyRegistration" });
  const m = challengeDoc.message || {};
  if (typeof m.key !== "string" || checksumAddress(m.key) !== signer.address) throw new SignerError("WRONG_SIGNER", "the challenge is for another key");
  if (account !== undefined && m.account !== account) throw new SignerError("WRONG_ACCOUNT", "the challenge is for another account");
  if (BigInt(m.expiresAt) * 1000n < BigInt(now)) throw new TypedDataError("the challenge has expired; ask for a new one");
  return signHubaoTypedData(signer, challengeDoc, { primaryType: "KeyRegistration" });
}

/**
 * The signer to use: the injected wallet when there is one and `preferWallet`, else the device key
 * for `account` unlocked with `passphrase`.
 */
export async function chooseSigner({ account, passphrase, preferWallet = true, provider = injectedProvider(), store } = {}) {
  if (preferWallet && provider) return WalletSigner.connect(provider);
  return DeviceSigner.unlock(account, passphrase, { store });
}
