// The participant's own signing key, made and kept in this browser: a secp256k1 key encrypted under
// a passphrase the server never sees, in the standard Ethereum keystore v3 format (Web3 Secret
// Storage), so that `cast wallet`, any wallet, eth-account and `hubao sign` read the same file.
//
// Format (exact): {version: 3, id: uuid v4, address: 40 hex (no 0x), crypto: {cipher: "aes-128-ctr",
// cipherparams: {iv: 16 bytes hex}, ciphertext: hex, kdf: "scrypt", kdfparams: {dklen: 32, n, r, p,
// salt: 32 bytes hex}, mac: keccak256(derivedKey[16..32] ‖ ciphertext) hex}}. AES-128-CTR runs in
// WebCrypto with derivedKey[0..16]; scrypt and keccak256 come from @noble/hashes (vendored, audited).
// The passphrase is taken as its UTF-8 bytes, as eth-account and geth do (no Unicode normalisation).
// Import also reads pbkdf2 (hmac-sha256) keystores, which eth-account can write.
//
// Verification-critical: pinned against eth-account (`Account.encrypt` / `Account.decrypt`) by
// tests/device/. Nothing here talks to the server: the key and the passphrase never leave the page.

import { secp256k1 } from "../../vendor/noble/curves/secp256k1.js";
import { pbkdf2Async } from "../../vendor/noble/hashes/pbkdf2.js";
import { scryptAsync } from "../../vendor/noble/hashes/scrypt.js";
import { sha256 } from "../../vendor/noble/hashes/sha2.js";
import { keccak_256 } from "../../vendor/noble/hashes/sha3.js";

/** Web3 Secret Storage's standard scrypt cost (geth's and eth-account's default): n = 2^18, r = 8, p = 1. */
export const SCRYPT_STANDARD = Object.freeze({ n: 262144, r: 8, p: 1 });
// Refuse an imported keystore whose KDF would take the tab's memory or minutes of CPU (2^20 · 8 · 128 B = 1 GiB).
const MAX_SCRYPT_COST = 128 * 8 * 2 ** 20;
const MAX_PBKDF2_ROUNDS = 10_000_000;
const STORAGE_PREFIX = "hubao.keystore.v3:";

export class KeystoreError extends Error {
  /** `code`: BAD_KEYSTORE (not a v3 keystore this page can read), WRONG_PASSPHRASE, ADDRESS_MISMATCH, NO_KEY, NO_WEBCRYPTO. */
  constructor(code, message) {
    super(message);
    this.name = "KeystoreError";
    this.code = code;
  }
}

export function bytesToHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function hexToBytes(hex) {
  const clean = String(hex).replace(/^0x/i, "");
  if (clean.length % 2 || /[^0-9a-f]/i.test(clean)) throw new KeystoreError("BAD_KEYSTORE", "not a hex string");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function randomBytes(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) throw new KeystoreError("NO_WEBCRYPTO", "this page needs a secure context (HTTPS) to protect your key");
  return s;
}

/** EIP-55 mixed-case checksum of a 20-byte address given as hex. */
export function checksumAddress(hex) {
  const lower = String(hex).replace(/^0x/i, "").toLowerCase();
  if (!/^[0-9a-f]{40}$/.test(lower)) throw new KeystoreError("BAD_KEYSTORE", "not a 20-byte address");
  const hash = bytesToHex(keccak_256(new TextEncoder().encode(lower)));
  let out = "0x";
  for (let i = 0; i < 40; i++) out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  return out;
}

/** The Ethereum address (EIP-55) of a 32-byte secp256k1 private key. */
export function addressOf(privateKey) {
  const publicKey = secp256k1.getPublicKey(privateKey, false); // 0x04 ‖ x ‖ y
  return checksumAddress(bytesToHex(keccak_256(publicKey.subarray(1)).subarray(12)));
}

/** A fresh secp256k1 private key from the browser's CSPRNG (rejection-sampled into [1, n-1] by noble). */
export function generatePrivateKey() {
  return secp256k1.utils.randomSecretKey();
}

function uuidV4() {
  const b = randomBytes(16);
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = bytesToHex(b);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

async function aes128ctr(key16, iv16, data) {
  const key = await subtle().importKey("raw", key16, { name: "AES-CTR" }, false, ["encrypt"]);
  // CTR with the whole 128-bit block as the counter, as Web3 Secret Storage (and OpenSSL) count.
  return new Uint8Array(await subtle().encrypt({ name: "AES-CTR", counter: iv16, length: 128 }, key, data));
}

function passphraseBytes(passphrase) {
  if (typeof passphrase !== "string") throw new KeystoreError("WRONG_PASSPHRASE", "a passphrase is required");
  return new TextEncoder().encode(passphrase);
}

function progressOf(onProgress) {
  return typeof onProgress === "function" ? { onProgress, asyncTick: 20 } : { asyncTick: 20 };
}

/**
 * Encrypt `privateKey` (32 bytes) under `passphrase` as a keystore v3 object.
 * `options.scrypt` overrides the cost (tests use a small n; people get SCRYPT_STANDARD);
 * `options.onProgress(fraction)` reports the KDF's progress.
 */
export async function encryptKeystore(privateKey, passphrase, options = {}) {
  if (!(privateKey instanceof Uint8Array) || privateKey.length !== 32 || !secp256k1.utils.isValidSecretKey(privateKey)) {
    throw new KeystoreError("BAD_KEYSTORE", "not a secp256k1 private key");
  }
  const { n, r, p } = { ...SCRYPT_STANDARD, ...(options.scrypt || {}) };
  const salt = randomBytes(32);
  const iv = randomBytes(16);
  const derived = await scryptAsync(passphraseBytes(passphrase), salt, { N: n, r, p, dkLen: 32, ...progressOf(options.onProgress) });
  const ciphertext = await aes128ctr(derived.subarray(0, 16), iv, privateKey);
  const mac = keccak_256(concat(derived.subarray(16, 32), ciphertext));
  derived.fill(0);
  return {
    address: addressOf(privateKey).slice(2).toLowerCase(),
    crypto: {
      cipher: "aes-128-ctr",
      cipherparams: { iv: bytesToHex(iv) },
      ciphertext: bytesToHex(ciphertext),
      kdf: "scrypt",
      kdfparams: { dklen: 32, n, p, r, salt: bytesToHex(salt) },
      mac: bytesToHex(mac),
    },
    id: uuidV4(),
    version: 3,
  };
}

function field(obj, name, kind) {
  const value = obj ? obj[name] : undefined;
  if (typeof value !== kind) throw new KeystoreError("BAD_KEYSTORE", `keystore field ${name} is missing or not a ${kind}`);
  return value;
}

/** Parse and check the shape of a keystore v3 (a JSON string or an object); returns the object. */
export function parseKeystore(input) {
  let doc = input;
  if (typeof input === "string") {
    try {
      doc = JSON.parse(input);
    } catch {
      throw new KeystoreError("BAD_KEYSTORE", "the keystore file is not JSON");
    }
  }
  if (!doc || typeof doc !== "object" || doc.version !== 3) throw new KeystoreError("BAD_KEYSTORE", "not a version 3 keystore");
  const c = doc.crypto || doc.Crypto;
  if (!c || typeof c !== "object") throw new KeystoreError("BAD_KEYSTORE", "the keystore has no crypto section");
  if (field(c, "cipher", "string") !== "aes-128-ctr") throw new KeystoreError("BAD_KEYSTORE", `cipher ${c.cipher} is not supported (aes-128-ctr only)`);
  if (hexToBytes(field(c.cipherparams, "iv", "string")).length !== 16) throw new KeystoreError("BAD_KEYSTORE", "the iv is not 16 bytes");
  if (hexToBytes(field(c, "ciphertext", "string")).length !== 32) throw new KeystoreError("BAD_KEYSTORE", "the ciphertext is not a 32-byte key");
  if (hexToBytes(field(c, "mac", "string")).length !== 32) throw new KeystoreError("BAD_KEYSTORE", "the mac is not 32 bytes");
  const kdf = field(c, "kdf", "string");
  const kp = c.kdfparams;
  if (field(kp, "dklen", "number") < 32) throw new KeystoreError("BAD_KEYSTORE", "dklen must be at least 32");
  field(kp, "salt", "string");
  if (kdf === "scrypt") {
    const [n, r, p] = [field(kp, "n", "number"), field(kp, "r", "number"), field(kp, "p", "number")];
    if (n < 2 || (n & (n - 1)) !== 0 || r < 1 || p < 1 || 128 * r * n * p > MAX_SCRYPT_COST) {
      throw new KeystoreError("BAD_KEYSTORE", "scrypt parameters out of range");
    }
  } else if (kdf === "pbkdf2") {
    if (kp.prf !== "hmac-sha256") throw new KeystoreError("BAD_KEYSTORE", "pbkdf2 keystores must use hmac-sha256");
    const c2 = field(kp, "c", "number");
    if (c2 < 1 || c2 > MAX_PBKDF2_ROUNDS) throw new KeystoreError("BAD_KEYSTORE", "pbkdf2 round count out of range");
  } else {
    throw new KeystoreError("BAD_KEYSTORE", `kdf ${kdf} is not supported (scrypt or pbkdf2)`);
  }
  if (doc.address !== undefined) checksumAddress(doc.address);
  return doc;
}

/**
 * Decrypt a keystore v3 with `passphrase`; returns the 32-byte private key.
 * Fails with WRONG_PASSPHRASE when the MAC does not match, ADDRESS_MISMATCH when the key is not the
 * keystore's stated address.
 */
export async function decryptKeystore(input, passphrase, options = {}) {
  const doc = parseKeystore(input);
  const c = doc.crypto || doc.Crypto;
  const kp = c.kdfparams;
  const pw = passphraseBytes(passphrase);
  const salt = hexToBytes(kp.salt);
  const derived =
    c.kdf === "scrypt"
      ? await scryptAsync(pw, salt, { N: kp.n, r: kp.r, p: kp.p, dkLen: kp.dklen, maxmem: MAX_SCRYPT_COST + 1024 * 1024, ...progressOf(options.onProgress) })
      : await pbkdf2Async(sha256, pw, salt, { c: kp.c, dkLen: kp.dklen, asyncTick: 20 });
  const ciphertext = hexToBytes(c.ciphertext);
  const mac = keccak_256(concat(derived.subarray(16, 32), ciphertext));
  const want = hexToBytes(c.mac);
  let diff = 0;
  for (let i = 0; i < 32; i++) diff |= mac[i] ^ want[i];
  if (diff !== 0) {
    derived.fill(0);
    throw new KeystoreError("WRONG_PASSPHRASE", "wrong passphrase for this key");
  }
  const privateKey = await aes128ctr(derived.subarray(0, 16), hexToBytes(c.cipherparams.iv), ciphertext);
  derived.fill(0);
  if (!secp256k1.utils.isValidSecretKey(privateKey)) throw new KeystoreError("BAD_KEYSTORE", "the keystore does not hold a secp256k1 key");
  if (doc.address !== undefined && checksumAddress(doc.address) !== addressOf(privateKey)) {
    throw new KeystoreError("ADDRESS_MISMATCH", "the key does not match the keystore's address");
  }
  return privateKey;
}

/** The address a keystore names (EIP-55), or null when it names none. */
export function keystoreAddress(input) {
  const doc = parseKeystore(input);
  return doc.address === undefined ? null : checksumAddress(doc.address);
}

// ---- storage in this browser (localStorage, one encrypted keystore per account) --------------------
// Only the encrypted v3 JSON is stored: without the passphrase it is as safe as the exported file.

function storage(store) {
  return store || globalThis.localStorage;
}

/** Keep `keystore` (object) for `account` in this browser, replacing any earlier one. */
export function saveKeystore(account, keystore, store) {
  parseKeystore(keystore);
  storage(store).setItem(STORAGE_PREFIX + account, JSON.stringify(keystore));
}

/** The keystore kept for `account` in this browser, or null. */
export function loadKeystore(account, store) {
  const raw = storage(store).getItem(STORAGE_PREFIX + account);
  return raw === null ? null : parseKeystore(raw);
}

export function removeKeystore(account, store) {
  storage(store).removeItem(STORAGE_PREFIX + account);
}

/** Make a key on this device for `account`, encrypt it under `passphrase`, keep it; returns {address, keystore}. */
export async function createDeviceKey(account, passphrase, options = {}) {
  if (!passphrase || passphrase.length < 8) throw new KeystoreError("WRONG_PASSPHRASE", "choose a passphrase of at least 8 characters");
  const privateKey = generatePrivateKey();
  try {
    const keystore = await encryptKeystore(privateKey, passphrase, options);
    saveKeystore(account, keystore, options.store);
    return { address: addressOf(privateKey), keystore };
  } finally {
    privateKey.fill(0);
  }
}

/**
 * Import a keystore v3 (JSON text or object) for `account`: it must decrypt with `passphrase`
 * (so a typo is caught now, not at the first verdict); then it is kept. Returns {address, keystore}.
 */
export async function importKeystore(account, input, passphrase, options = {}) {
  const keystore = parseKeystore(input);
  const privateKey = await decryptKeystore(keystore, passphrase, options);
  try {
    const address = addressOf(privateKey);
    const kept = keystore.address === undefined ? { ...keystore, address: address.slice(2).toLowerCase() } : keystore;
    saveKeystore(account, kept, options.store);
    return { address, keystore: kept };
  } finally {
    privateKey.fill(0);
  }
}

/** geth's file name for a keystore: UTC--<ISO time with dashes>--<address>. */
export function keystoreFileName(keystore, now = new Date()) {
  const stamp = now.toISOString().replace(/:/g, "-");
  return `UTC--${stamp}--${String(keystore.address || "key").toLowerCase()}.json`;
}

/** Offer the keystore as a file download (the encrypted JSON; nothing is sent anywhere). */
export function downloadKeystore(keystore, documentRef = globalThis.document) {
  const blob = new Blob([JSON.stringify(keystore, null, 2)], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = documentRef.createElement("a");
  a.href = url;
  a.download = keystoreFileName(keystore);
  a.hidden = true;
  documentRef.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
  return a.download;
}
