// EIP-712 typed data, hashed and signed in the browser: what a reviewer's device signs.
//
// Verification-critical (DESIGN.md "Exact formats" 6): hashTypedData(doc) must be byte-equal to
// eth-account's encode_typed_data(full_message=doc) and to ClaimLedger.hashVerdict. Pinned by
// tests/device/ against tests/vectors/eip712_verdict.json and eth-account.
//
// The page never makes up the signing domain: the server hands out the whole typed-data document
// (domain = {name "Hubao", version = the contract's major version, chainId, verifyingContract}
// read from the deployed contract); checkHubaoDomain refuses a document that is not Hubao's.
// Signatures are 65 bytes r ‖ s ‖ v (v ∈ {27, 28}), low s, RFC 6979 deterministic.

import { secp256k1 } from "../../vendor/noble/curves/secp256k1.js";
import { keccak_256 } from "../../vendor/noble/hashes/sha3.js";
import { addressOf, bytesToHex, checksumAddress, hexToBytes } from "./keystore.js";

export class TypedDataError extends Error {
  constructor(message) {
    super(message);
    this.name = "TypedDataError";
    this.code = "BAD_TYPED_DATA";
  }
}

const DOMAIN_FIELDS = [
  ["name", "string"],
  ["version", "string"],
  ["chainId", "uint256"],
  ["verifyingContract", "address"],
  ["salt", "bytes32"],
];

/** ClaimLedger's Verdict (IClaimLedger.Verdict, field for field). */
export const VERDICT_FIELDS = [
  { name: "claimId", type: "bytes32" },
  { name: "verdict", type: "uint8" },
  { name: "reasonCode", type: "uint16" },
  { name: "reportHash", type: "bytes32" },
  { name: "ruleSetHash", type: "bytes32" },
  { name: "nonce", type: "uint256" },
  { name: "deadline", type: "uint256" },
];
export const VERDICT_APPROVE = 1;
export const VERDICT_REJECT = 2;

/**
 * Proof of possession of a participant key: the server's one-time challenge, signed by the key
 * being registered. Off chain only (the server checks it); bound to the Hubao domain of this chain.
 */
export const KEY_REGISTRATION_FIELDS = [
  { name: "purpose", type: "string" },
  { name: "account", type: "string" },
  { name: "key", type: "address" },
  { name: "challenge", type: "bytes32" },
  { name: "expiresAt", type: "uint256" },
];

/**
 * A jury vote's salt: the juror's device signs VoteSalt(claimId, round) and hashes the signature
 * (salt = keccak256(r ‖ s ‖ v)). The signature is never sent: it is the secret. RFC 6979 makes it
 * deterministic, so the salt is re-derived at reveal time (a lost tab loses nothing).
 */
export const VOTE_SALT_FIELDS = [
  { name: "claimId", type: "bytes32" },
  { name: "round", type: "uint32" },
];
/** What the juror signs to commit; the operator relays it to ClaimLedger.commitVoteBySig. */
export const VOTE_COMMIT_FIELDS = [
  { name: "claimId", type: "bytes32" },
  { name: "round", type: "uint32" },
  { name: "commitment", type: "bytes32" },
];

const keccak = (bytes) => keccak_256(bytes);
const utf8 = (s) => new TextEncoder().encode(s);

function concat(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function word(bigint) {
  const out = new Uint8Array(32);
  let v = bigint;
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

function toBigInt(value, name) {
  if (typeof value === "bigint") return value;
  if (typeof value === "number" && Number.isSafeInteger(value)) return BigInt(value);
  if (typeof value === "string" && /^(0x[0-9a-f]+|-?[0-9]+)$/i.test(value.trim())) return BigInt(value.trim());
  throw new TypedDataError(`${name} is not an integer`);
}

function bytesOf(value, name) {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string" && /^0x([0-9a-f]{2})*$/i.test(value)) return hexToBytes(value);
  throw new TypedDataError(`${name} is not 0x-prefixed hex bytes`);
}

function structFields(types, name) {
  const fields = types[name];
  if (!Array.isArray(fields)) throw new TypedDataError(`unknown type ${name}`);
  return fields;
}

function baseType(type) {
  return type.replace(/(\[[0-9]*\])+$/, "");
}

function dependencies(primary, types, found = new Set()) {
  if (found.has(primary) || !(primary in types)) return found;
  found.add(primary);
  for (const f of structFields(types, primary)) dependencies(baseType(f.type), types, found);
  return found;
}

/** encodeType: the primary type, then its struct dependencies sorted by name (EIP-712). */
export function encodeType(primary, types) {
  const [first, ...rest] = [primary, ...[...dependencies(primary, types)].filter((t) => t !== primary).sort()];
  return [first, ...rest].map((t) => `${t}(${structFields(types, t).map((f) => `${f.type} ${f.name}`).join(",")})`).join("");
}

export function typeHash(primary, types) {
  return keccak(utf8(encodeType(primary, types)));
}

function encodeValue(type, value, types, name) {
  const array = type.match(/^(.*)\[([0-9]*)\]$/);
  if (array) {
    if (!Array.isArray(value)) throw new TypedDataError(`${name} is not an array`);
    if (array[2] !== "" && value.length !== Number(array[2])) throw new TypedDataError(`${name} must have ${array[2]} items`);
    return keccak(concat(value.map((v, i) => encodeValue(array[1], v, types, `${name}[${i}]`))));
  }
  if (type in types) return hashStruct(type, value, types);
  if (type === "string") {
    if (typeof value !== "string") throw new TypedDataError(`${name} is not a string`);
    return keccak(utf8(value));
  }
  if (type === "bytes") return keccak(bytesOf(value, name));
  if (type === "bool") {
    if (typeof value !== "boolean") throw new TypedDataError(`${name} is not a boolean`);
    return word(value ? 1n : 0n);
  }
  if (type === "address") {
    if (typeof value !== "string" || !/^0x[0-9a-f]{40}$/i.test(value)) throw new TypedDataError(`${name} is not an address`);
    return word(BigInt(value));
  }
  let m = type.match(/^bytes([0-9]+)$/);
  if (m) {
    const size = Number(m[1]);
    const bytes = bytesOf(value, name);
    if (size < 1 || size > 32 || bytes.length !== size) throw new TypedDataError(`${name} must be ${size} bytes`);
    const out = new Uint8Array(32);
    out.set(bytes);
    return out;
  }
  m = type.match(/^(u?)int([0-9]*)$/);
  if (m) {
    const bits = BigInt(m[2] || 256);
    const v = toBigInt(value, name);
    if (m[1] === "u") {
      if (v < 0n || v >= 1n << bits) throw new TypedDataError(`${name} does not fit ${type}`);
      return word(v);
    }
    if (v < -(1n << (bits - 1n)) || v >= 1n << (bits - 1n)) throw new TypedDataError(`${name} does not fit ${type}`);
    return word(BigInt.asUintN(256, v));
  }
  throw new TypedDataError(`unsupported type ${type}`);
}

/** hashStruct(s) = keccak256(typeHash ‖ encodeData(s)). */
export function hashStruct(primary, data, types) {
  if (!data || typeof data !== "object") throw new TypedDataError(`${primary} is not an object`);
  const parts = [typeHash(primary, types)];
  for (const f of structFields(types, primary)) {
    if (!(f.name in data)) throw new TypedDataError(`${primary}.${f.name} is missing`);
    parts.push(encodeValue(f.type, data[f.name], types, `${primary}.${f.name}`));
  }
  return keccak(concat(parts));
}

/** The EIP712Domain fields a domain object uses, in the canonical order (as eth_signTypedData_v4 infers). */
export function domainFields(domain) {
  return DOMAIN_FIELDS.filter(([n]) => domain[n] !== undefined).map(([name, type]) => ({ name, type }));
}

function withDomainType(doc) {
  if (!doc || typeof doc !== "object" || !doc.types || !doc.domain || typeof doc.primaryType !== "string") {
    throw new TypedDataError("a typed-data document has types, primaryType, domain and message");
  }
  const types = { ...doc.types };
  if (!types.EIP712Domain) types.EIP712Domain = domainFields(doc.domain);
  return types;
}

export function domainSeparator(doc) {
  return hashStruct("EIP712Domain", doc.domain, withDomainType(doc));
}

/** keccak256(0x19 ‖ 0x01 ‖ domainSeparator ‖ hashStruct(message)): the 32 bytes that get signed. */
export function hashTypedData(doc) {
  const types = withDomainType(doc);
  return keccak(
    concat([new Uint8Array([0x19, 0x01]), hashStruct("EIP712Domain", doc.domain, types), hashStruct(doc.primaryType, doc.message, types)]),
  );
}

/**
 * Refuse a document that is not a Hubao message of the expected kind: domain name "Hubao", a version,
 * a chain id and a verifying contract all present (their values come from the server's contract);
 * optionally the chain and contract the caller expects, and the primary type.
 */
export function checkHubaoDomain(doc, expect = {}) {
  const d = doc && doc.domain;
  if (!d || d.name !== "Hubao") throw new TypedDataError("not a Hubao message (domain name)");
  if (typeof d.version !== "string" || !/^[0-9]+$/.test(d.version)) throw new TypedDataError("the domain has no contract version");
  toBigInt(d.chainId, "chainId");
  checksumAddress(d.verifyingContract);
  if (expect.primaryType && doc.primaryType !== expect.primaryType) throw new TypedDataError(`expected a ${expect.primaryType}, got ${doc.primaryType}`);
  if (expect.chainId !== undefined && toBigInt(d.chainId, "chainId") !== toBigInt(expect.chainId, "chainId")) throw new TypedDataError("wrong chain");
  if (expect.verifyingContract && checksumAddress(d.verifyingContract) !== checksumAddress(expect.verifyingContract)) throw new TypedDataError("wrong contract");
  return doc;
}

/** Sign a 32-byte digest: "0x" ‖ r ‖ s ‖ v, v ∈ {27, 28}, low s (noble signs low-s; checked anyway). */
export function signDigest(digest, privateKey) {
  const rec = secp256k1.sign(digest, privateKey, { prehash: false, format: "recovered", lowS: true }); // v ‖ r ‖ s
  const sig = new Uint8Array(65);
  sig.set(rec.subarray(1, 65), 0);
  sig[64] = rec[0] + 27;
  return `0x${bytesToHex(sig)}`;
}

const HALF_N = secp256k1.Point.CURVE().n >> 1n;

/** The address that signed `digest` with a 65-byte r ‖ s ‖ v signature; refuses high-s (ClaimLedger does). */
export function recoverDigestSigner(digest, signature) {
  const sig = bytesOf(signature, "signature");
  if (sig.length !== 65) throw new TypedDataError("a signature is 65 bytes");
  const v = sig[64] >= 27 ? sig[64] - 27 : sig[64];
  if (v !== 0 && v !== 1) throw new TypedDataError("bad recovery id");
  const s = BigInt(`0x${bytesToHex(sig.subarray(32, 64))}`);
  if (s > HALF_N) throw new TypedDataError("high-s signature");
  const rec = new Uint8Array(65);
  rec[0] = v;
  rec.set(sig.subarray(0, 64), 1);
  const pub = secp256k1.recoverPublicKey(rec, digest, { prehash: false });
  const point = secp256k1.Point.fromBytes(pub).toBytes(false);
  return checksumAddress(bytesToHex(keccak(point.subarray(1)).subarray(12)));
}

export function signTypedData(doc, privateKey) {
  return signDigest(hashTypedData(doc), privateKey);
}

export function recoverTypedDataSigner(doc, signature) {
  return recoverDigestSigner(hashTypedData(doc), signature);
}

/** keccak256(abi.encode(bytes32 keccak256(utf8(report)), bytes32 salt)): a verdict's reportHash. */
export function reportHash(report, saltHex) {
  const salt = hexToBytes(saltHex);
  if (salt.length !== 32) throw new TypedDataError("a report salt is 32 bytes");
  return `0x${bytesToHex(keccak(concat([keccak(utf8(report)), salt])))}`;
}

/** A Verdict typed-data document for `domain` (from the server) and `verdict` (ClaimLedger field names). */
export function verdictTypedData(domain, verdict) {
  return {
    types: { EIP712Domain: domainFields(domain), Verdict: VERDICT_FIELDS },
    primaryType: "Verdict",
    domain,
    message: verdict,
  };
}

/** The VoteSalt document for `domain` (from the server) and {claimId, round}. */
export function voteSaltTypedData(domain, { claimId, round }) {
  return {
    types: { EIP712Domain: domainFields(domain), VoteSalt: VOTE_SALT_FIELDS },
    primaryType: "VoteSalt",
    domain,
    message: { claimId, round: Number(round) },
  };
}

/** The VoteCommit document for `domain` and {claimId, round, commitment}. */
export function voteCommitTypedData(domain, { claimId, round, commitment }) {
  return {
    types: { EIP712Domain: domainFields(domain), VoteCommit: VOTE_COMMIT_FIELDS },
    primaryType: "VoteCommit",
    domain,
    message: { claimId, round: Number(round), commitment },
  };
}

/** keccak256 of a 65-byte signature: the vote salt it yields (hex). */
export function saltFromSignature(signature) {
  const sig = bytesOf(signature, "signature");
  if (sig.length !== 65) throw new TypedDataError("a signature is 65 bytes");
  return `0x${bytesToHex(keccak(sig))}`;
}

/** keccak256(abi.encode(bytes32 claimId, uint32 round, address juror, bool approve, bytes32 salt)) as hex. */
export function voteCommitment(claimId, round, juror, approve, salt) {
  const id = bytesOf(claimId, "claimId");
  const s = bytesOf(salt, "salt");
  if (id.length !== 32 || s.length !== 32) throw new TypedDataError("claimId and salt are 32 bytes");
  const r = toBigInt(round, "round");
  if (r <= 0n || r >= 1n << 32n) throw new TypedDataError("round does not fit uint32");
  if (typeof approve !== "boolean") throw new TypedDataError("approve is a boolean");
  return `0x${bytesToHex(keccak(concat([id, word(r), word(BigInt(checksumAddress(juror))), word(approve ? 1n : 0n), s])))}`;
}

export { addressOf };
