// Receipt verification in the browser: the same numbered steps as backend/apportionment/receipts.py
// (share receipts) and backend/proofs/receipts.py (evidence receipts, offline steps), then a
// comparison with the period record the chain holds (as GET /periods reports it).
// Merkle trees are OpenZeppelin StandardMerkleTree: leaf = keccak256(keccak256(abi.encode(values))),
// inner node = keccak256 of the sorted pair.

import { keccak256 } from "./keccak.js";

const HEX32 = /^0x[0-9a-f]{64}$/;
const HEX = /^0x(?:[0-9a-f]{2})*$/;
const UINT64_MAX = (1n << 64n) - 1n;
const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const UINT256_MAX = (1n << 256n) - 1n;

export class StepFailure extends Error {
  constructor(step, name, message) {
    super(message);
    this.step = step;
    this.name = name;
  }
}

// --- bytes and hex ---------------------------------------------------------------------------

export function fromHex(text) {
  const body = text.startsWith("0x") ? text.slice(2) : text;
  if (body.length % 2 !== 0 || /[^0-9a-fA-F]/.test(body)) throw new TypeError(`not hex: ${text}`);
  const out = new Uint8Array(body.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(body.slice(2 * i, 2 * i + 2), 16);
  return out;
}

export function toHex(bytes) {
  let s = "0x";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function compare(a, b) {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function uintWord(value) {
  let v = BigInt(value);
  const out = new Uint8Array(32);
  for (let i = 31; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

// --- Merkle ----------------------------------------------------------------------------------

export function hashPair(a, b) {
  return compare(a, b) <= 0 ? keccak256(concat(a, b)) : keccak256(concat(b, a));
}

/** Fold a leaf hash up through its sibling hashes (MerkleProof.processProof). */
export function processProof(leafHash, proof) {
  return proof.reduce((node, sibling) => hashPair(node, sibling), leafHash);
}

/** keccak256(keccak256(encoded)): the StandardMerkleTree leaf hash of ABI-encoded values. */
export function standardLeafHash(encoded) {
  return keccak256(keccak256(encoded));
}

/** abi.encode(bytes32, uint64, uint64, uint64) of a share row. */
export function encodeShareLeaf(leaf) {
  return concat(fromHex(leaf.memberCommitment), uintWord(leaf.shareFen), uintWord(leaf.subsidyFen), uintWord(leaf.yearToDateFen));
}

/** abi.encode(bytes32, bytes32, bytes) of an evidence leaf. */
export function encodeEvidenceLeaf(leaf) {
  const cid = fromHex(leaf.cid);
  const padded = new Uint8Array(Math.ceil(cid.length / 32) * 32);
  padded.set(cid);
  return concat(fromHex(leaf.claimRef), fromHex(leaf.contentCommitment), uintWord(96), uintWord(cid.length), padded);
}

/** The proof lengths a leaf can have in a tree of n leaves: floor(log2(t + 1)), t in [n - 1, 2n - 2]. */
export function possibleDepths(n) {
  const depth = (t) => Math.floor(Math.log2(t + 1) + 1e-9);
  return new Set([depth(n - 1), depth(2 * n - 2)]);
}

// --- schema helpers --------------------------------------------------------------------------

function exactKeys(obj, keys, where, fail, optional = []) {
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) fail(`${where} must be an object`);
  for (const k of keys) if (!(k in obj)) fail(`missing field ${where === "$" ? "" : where + "."}${k}`);
  for (const k of Object.keys(obj)) {
    if (!keys.includes(k) && !optional.includes(k)) fail(`unknown field ${where === "$" ? "" : where + "."}${k}`);
  }
}

function int(obj, key, path, min, max, fail) {
  const v = obj[key];
  if (typeof v !== "number" || !Number.isInteger(v)) fail(`${path} must be an integer`);
  const b = BigInt(v);
  if (b < min || b > max) fail(`${path} is out of range`);
  return b;
}

function bytes32(obj, key, path, fail) {
  if (typeof obj[key] !== "string" || !HEX32.test(obj[key])) fail(`${path} must be 32 bytes of lower-case 0x hex`);
  return fromHex(obj[key]);
}

/** EIP-55: a mixed-case address must carry the right checksum; all lower case is accepted. */
export function isAddress(text) {
  if (typeof text !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(text)) return false;
  const body = text.slice(2);
  if (body === body.toLowerCase()) return true;
  const hash = toHex(keccak256(new TextEncoder().encode(body.toLowerCase()))).slice(2);
  for (let i = 0; i < 40; i++) {
    const upper = parseInt(hash[i], 16) >= 8;
    const c = body[i];
    if (/[a-f]/i.test(c) && (c === c.toUpperCase()) !== upper) return false;
  }
  return true;
}

// --- share receipts --------------------------------------------------------------------------

const SHARE_KEYS = ["version", "kind", "chainId", "contract", "ledgerCid", "periodId", "period", "ledgerRoot", "leaf", "leafHash", "proof"];
const INPUT_KEYS = ["ruleSetHash", "claimCount", "payoutsFen", "feeBps", "surplusInFen", "memberCount", "perCaseCapFen", "annualCapFen", "windDown"];
const TOTAL_KEYS = ["feeFen", "dueFen", "baseFen", "shareTotalFen", "subsidyTotalFen", "surplusOutFen"];
const SHARE_LEAF_KEYS = ["memberCommitment", "shareFen", "subsidyFen", "yearToDateFen"];
const BPS = 10000n;

export const SHARE_STEPS = [
  [1, "SCHEMA", "the receipt has the version-1 format"],
  [2, "LEAF_HASH", "your row hashes to the receipt's leaf hash"],
  [3, "PROOF", "the proof folds your row into the ledger root"],
  [4, "POSITION", "the proof's length fits a tree of all members"],
  [5, "PERIOD_TOTALS", "fee, amount due, base and surplus recompute from the period's inputs"],
  [6, "SHARE", "your share and subsidy follow from the base and the caps"],
  [7, "CHAIN_RECORD", "the ledger root and figures are the ones recorded on chain"],
];

function shareSchema(doc, fail) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) fail("the receipt must be a JSON object");
  if (doc.version !== 1) fail(`unsupported receipt version ${JSON.stringify(doc.version)}`);
  exactKeys(doc, SHARE_KEYS, "$", fail);
  if (doc.kind !== "share") fail("kind must be 'share'");
  if ((doc.chainId === null) !== (doc.contract === null)) fail("chainId and contract are null together or set together");
  if (doc.chainId !== null) int(doc, "chainId", "chainId", 1n, UINT256_MAX, fail);
  if (doc.contract !== null && !isAddress(doc.contract)) fail("contract must be an address (EIP-55 or lower case)");
  if (doc.ledgerCid !== null && (typeof doc.ledgerCid !== "string" || !HEX.test(doc.ledgerCid) || doc.ledgerCid === "0x")) {
    fail("ledgerCid must be null or non-empty lower-case 0x hex");
  }
  int(doc, "periodId", "periodId", 0n, UINT64_MAX, fail);
  const p = doc.period;
  exactKeys(p, [...INPUT_KEYS, ...TOTAL_KEYS], "period", fail);
  const v = {};
  for (const k of [...INPUT_KEYS, ...TOTAL_KEYS]) {
    if (k === "ruleSetHash" || k === "windDown") continue;
    v[k] = k === "dueFen" ? int(p, k, `period.${k}`, INT64_MIN, INT64_MAX, fail) : int(p, k, `period.${k}`, 0n, UINT64_MAX, fail);
  }
  bytes32(p, "ruleSetHash", "period.ruleSetHash", fail);
  if (typeof p.windDown !== "boolean") fail("period.windDown must be a boolean");
  if (v.memberCount < 1n) fail("period.memberCount must be at least 1 for a receipt");
  if (v.feeBps > BPS) fail("period.feeBps must be at most 10000");
  bytes32(doc, "ledgerRoot", "ledgerRoot", fail);
  exactKeys(doc.leaf, SHARE_LEAF_KEYS, "leaf", fail);
  bytes32(doc.leaf, "memberCommitment", "leaf.memberCommitment", fail);
  const leaf = {};
  for (const k of ["shareFen", "subsidyFen", "yearToDateFen"]) leaf[k] = int(doc.leaf, k, `leaf.${k}`, 0n, UINT64_MAX, fail);
  bytes32(doc, "leafHash", "leafHash", fail);
  if (!Array.isArray(doc.proof)) fail("proof must be a list");
  doc.proof.forEach((node, i) => {
    if (typeof node !== "string" || !HEX32.test(node)) fail(`proof[${i}] must be 32 bytes of lower-case 0x hex`);
  });
  return { period: v, leaf };
}

function periodTotals(v, windDown) {
  const fee = (v.payoutsFen * v.feeBps) / BPS;
  const due = v.payoutsFen + fee - v.surplusInFen;
  if (due <= 0n) return { fee, due, base: 0n, surplusOut: -due, caseCap: 0n };
  const n = v.memberCount;
  const base = (due + n - 1n) / n;
  let caseCap = v.perCaseCapFen * v.claimCount;
  if (base < caseCap) caseCap = base;
  if (windDown) caseCap = 0n;
  return { fee, due, base, surplusOut: n * base - due, caseCap };
}

/**
 * Verify a share receipt. `chainPeriod` is the period as the chain records it (GET /periods),
 * or null to stop after the offline steps. Returns {ok, steps: [{step, name, title, status, detail}]}.
 */
export function verifyShareReceipt(doc, chainPeriod) {
  const results = [];
  let current = 0;
  const fail = (message) => {
    throw new StepFailure(current, SHARE_STEPS[current - 1][1], message);
  };
  const run = (step, fn) => {
    current = step;
    const detail = fn() || "";
    results.push({ step, name: SHARE_STEPS[step - 1][1], title: SHARE_STEPS[step - 1][2], status: "pass", detail });
  };
  try {
    let parsed;
    run(1, () => {
      parsed = shareSchema(doc, fail);
    });
    const leafHash = fromHex(doc.leafHash);
    run(2, () => {
      const computed = standardLeafHash(encodeShareLeaf(doc.leaf));
      if (compare(computed, leafHash) !== 0) fail(`your row hashes to ${toHex(computed)}, not to the receipt's leafHash`);
      return toHex(computed);
    });
    run(3, () => {
      const root = processProof(leafHash, doc.proof.map(fromHex));
      if (toHex(root) !== doc.ledgerRoot) fail(`the proof folds into ${toHex(root)}, not into the ledger root`);
      return `root ${doc.ledgerRoot}`;
    });
    run(4, () => {
      const n = Number(parsed.period.memberCount);
      if (!possibleDepths(n).has(doc.proof.length)) fail(`no leaf of a ${n}-member tree has a ${doc.proof.length}-node proof`);
    });
    const p = parsed.period;
    const t = periodTotals(p, doc.period.windDown);
    run(5, () => {
      const checks = [
        ["feeFen", t.fee, p.feeFen],
        ["dueFen", t.due, p.dueFen],
        ["baseFen", t.base, p.baseFen],
        ["surplusOutFen", t.surplusOut, p.surplusOutFen],
      ];
      for (const [key, want, got] of checks) if (want !== got) fail(`period.${key} is ${got}, the inputs give ${want}`);
      const charged = p.memberCount * p.baseFen;
      if (p.shareTotalFen + p.subsidyTotalFen !== charged) fail("Σshare + Σsubsidy is not members × base");
      if (charged !== p.dueFen + p.surplusOutFen) fail("members × base is not due + surplus");
    });
    run(6, () => {
      const { shareFen, subsidyFen, yearToDateFen } = parsed.leaf;
      if (yearToDateFen < shareFen) fail("yearToDateFen is less than this period's share");
      let want = p.annualCapFen - (yearToDateFen - shareFen);
      if (t.caseCap < want) want = t.caseCap;
      if (want < 0n) want = 0n;
      if (shareFen !== want) fail(`shareFen is ${shareFen}, the base and caps give ${want}`);
      if (subsidyFen !== p.baseFen - want) fail(`subsidyFen is ${subsidyFen}, expected ${p.baseFen - want}`);
      return `share ${shareFen} fen, subsidy ${subsidyFen} fen`;
    });
    if (chainPeriod) {
      run(7, () => {
        if (doc.periodId !== chainPeriod.periodId) fail("the chain's record is of another period");
        if (doc.chainId !== chainPeriod.chainId) fail(`chainId ${doc.chainId} is not the chain's ${chainPeriod.chainId}`);
        if (String(doc.contract).toLowerCase() !== String(chainPeriod.contract).toLowerCase()) fail("contract is not the chain's Apportionment");
        if (doc.ledgerRoot !== chainPeriod.ledgerRoot) fail(`ledger root differs from the chain's ${chainPeriod.ledgerRoot}`);
        if (doc.ledgerCid !== chainPeriod.ledgerCidHex) fail("ledgerCid differs from the chain's");
        for (const k of [...INPUT_KEYS, ...TOTAL_KEYS]) {
          if (k === "dueFen") continue; // derived, not recorded
          if (doc.period[k] !== chainPeriod[k]) fail(`period.${k} is ${doc.period[k]}, the chain recorded ${chainPeriod[k]}`);
        }
        return `period ${chainPeriod.periodId} published in block ${chainPeriod.blockNumber}`;
      });
    }
    return { ok: true, steps: results };
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    results.push({ step: err.step, name: err.name, title: SHARE_STEPS[err.step - 1][2], status: "fail", detail: err.message });
    return { ok: false, failedStep: err.step, steps: results };
  }
}

// --- evidence receipts (offline steps) -------------------------------------------------------

function varint(bytes, pos) {
  let value = 0;
  let shift = 0;
  for (let i = pos; i < bytes.length && i < pos + 9; i++) {
    value += (bytes[i] & 0x7f) * 2 ** shift;
    if ((bytes[i] & 0x80) === 0) return [value, i + 1];
    shift += 7;
  }
  return [-1, bytes.length + 1];
}

/** A binary CID: v0 (sha2-256 multihash, 34 bytes) or v1 (version, codec, multihash). */
export function isBinaryCid(bytes) {
  if (bytes.length === 34 && bytes[0] === 0x12 && bytes[1] === 0x20) return true;
  let [version, pos] = varint(bytes, 0);
  if (version !== 1) return false;
  let codec;
  [codec, pos] = varint(bytes, pos);
  if (codec < 0) return false;
  let hashCode;
  [hashCode, pos] = varint(bytes, pos);
  if (hashCode < 0) return false;
  let length;
  [length, pos] = varint(bytes, pos);
  return length >= 0 && pos + length === bytes.length;
}

const EVIDENCE_KEYS = ["version", "kind", "chainId", "contract", "batchId", "root", "prevRoot", "leafCount", "leaf", "leafHash", "proof", "anchorTx", "anchorBlock"];
export const EVIDENCE_STEPS = [
  [1, "SCHEMA", "the receipt has the version-1 format"],
  [2, "LEAF_HASH", "the evidence leaf hashes to the receipt's leaf hash"],
  [3, "PROOF", "the proof folds the leaf into the anchored root"],
  [4, "COMMITMENT", "keccak256(sha256 ‖ salt) is the leaf's content commitment"],
  [5, "POSITION", "the proof's length fits a batch of leafCount leaves"],
  [6, "DEPLOYMENT", "the receipt names this chain and its EvidenceNotary"],
  [7, "BATCH", "the contract has the receipt's batch"],
  [8, "ROOT", "the batch's root on chain is the receipt's root"],
  [9, "PREV_ROOT", "the batch's previous root on chain is the receipt's (the anchors' hash chain)"],
  [10, "LEAF_COUNT", "the batch's leaf count on chain is the receipt's"],
  [11, "ANCHOR_BLOCK", "the batch was recorded in the receipt's block"],
];

/**
 * Verify an evidence receipt: steps 1–5 offline, then 6–11 against `chain` — {chainId, contract,
 * batch} where batch is the chain's record of the receipt's batch (GET /anchors/{batchId}), or
 * {chainId: null, contract: null, batch: null} when the chain has no such batch. Without `chain` only the offline steps run. Steps 12–13 (the contract's own
 * verify() and the anchoring transaction) are `hubao receipt verify --rpc`'s.
 */
export function verifyEvidenceReceipt(doc, chain) {
  const results = [];
  let current = 0;
  const fail = (message) => {
    throw new StepFailure(current, EVIDENCE_STEPS[current - 1][1], message);
  };
  const run = (step, fn) => {
    current = step;
    const detail = fn() || "";
    results.push({ step, name: EVIDENCE_STEPS[step - 1][1], title: EVIDENCE_STEPS[step - 1][2], status: "pass", detail });
  };
  try {
    run(1, () => {
      if (doc === null || typeof doc !== "object" || doc.version !== 1) fail("unsupported receipt version");
      exactKeys(doc, EVIDENCE_KEYS, "$", fail, ["salt", "plaintextSha256"]);
      if (doc.kind !== "evidence") fail("kind must be 'evidence'");
      if (("salt" in doc) !== ("plaintextSha256" in doc)) fail("salt and plaintextSha256 come together");
      int(doc, "chainId", "chainId", 1n, UINT256_MAX, fail);
      if (!isAddress(doc.contract)) fail("contract must be an address");
      int(doc, "batchId", "batchId", 0n, UINT256_MAX, fail);
      int(doc, "leafCount", "leafCount", 1n, UINT256_MAX, fail);
      int(doc, "anchorBlock", "anchorBlock", 0n, UINT64_MAX, fail);
      for (const k of ["root", "prevRoot", "leafHash", "anchorTx"]) bytes32(doc, k, k, fail);
      exactKeys(doc.leaf, ["claimRef", "contentCommitment", "cid"], "leaf", fail);
      bytes32(doc.leaf, "claimRef", "leaf.claimRef", fail);
      bytes32(doc.leaf, "contentCommitment", "leaf.contentCommitment", fail);
      if (typeof doc.leaf.cid !== "string" || !HEX.test(doc.leaf.cid) || doc.leaf.cid === "0x") fail("leaf.cid must be lower-case 0x hex");
      if (!isBinaryCid(fromHex(doc.leaf.cid))) fail("leaf.cid is not a binary CID");
      if (!Array.isArray(doc.proof)) fail("proof must be a list");
      doc.proof.forEach((node, i) => {
        if (typeof node !== "string" || !HEX32.test(node)) fail(`proof[${i}] must be 32 bytes of lower-case 0x hex`);
      });
      if ("salt" in doc) {
        bytes32(doc, "salt", "salt", fail);
        bytes32(doc, "plaintextSha256", "plaintextSha256", fail);
      }
    });
    const leafHash = fromHex(doc.leafHash);
    run(2, () => {
      const computed = standardLeafHash(encodeEvidenceLeaf(doc.leaf));
      if (compare(computed, leafHash) !== 0) fail(`the leaf hashes to ${toHex(computed)}, not to leafHash`);
    });
    run(3, () => {
      const root = processProof(leafHash, doc.proof.map(fromHex));
      if (toHex(root) !== doc.root) fail(`the proof folds into ${toHex(root)}, not into the root`);
      return `root ${doc.root}`;
    });
    run(4, () => {
      if (!("salt" in doc)) return "skipped: public copy without the salt";
      const commitment = keccak256(concat(fromHex(doc.plaintextSha256), fromHex(doc.salt)));
      if (toHex(commitment) !== doc.leaf.contentCommitment) fail("keccak256(plaintextSha256 ‖ salt) is not the content commitment");
    });
    run(5, () => {
      if (!possibleDepths(doc.leafCount).has(doc.proof.length)) fail(`no leaf of a ${doc.leafCount}-leaf batch has a ${doc.proof.length}-node proof`);
      return `batch ${doc.batchId} anchored in block ${doc.anchorBlock}, tx ${doc.anchorTx}`;
    });
    if (chain) {
      const batch = chain.batch;
      run(6, () => {
        if (chain.chainId === null) return "not known: the chain reported no such batch";
        if (doc.chainId !== chain.chainId) fail(`the receipt is for chain ${doc.chainId}, this is chain ${chain.chainId}`);
        if (doc.contract.toLowerCase() !== chain.contract.toLowerCase()) fail(`the receipt names ${doc.contract}, the EvidenceNotary is ${chain.contract}`);
      });
      run(7, () => {
        if (!batch || batch.batchId !== doc.batchId) fail(`the contract has no batch ${doc.batchId}`);
      });
      run(8, () => {
        if (batch.root !== doc.root) fail(`batch ${doc.batchId} on chain has root ${batch.root}`);
        return `root ${batch.root}`;
      });
      run(9, () => {
        if (batch.prevRoot !== doc.prevRoot) fail(`batch ${doc.batchId} on chain follows ${batch.prevRoot}`);
      });
      run(10, () => {
        if (batch.leafCount !== doc.leafCount) fail(`batch ${doc.batchId} on chain has ${batch.leafCount} leaves`);
      });
      run(11, () => {
        if (batch.blockNumber !== doc.anchorBlock) fail(`batch ${doc.batchId} was recorded in block ${batch.blockNumber}`);
        return `recorded in block ${batch.blockNumber}`;
      });
    }
    return { ok: true, steps: results };
  } catch (err) {
    if (!(err instanceof StepFailure)) throw err;
    results.push({ step: err.step, name: err.name, title: EVIDENCE_STEPS[err.step - 1][2], status: "fail", detail: err.message });
    return { ok: false, failedStep: err.step, steps: results };
  }
}
