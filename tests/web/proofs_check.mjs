// Runs the browser's keccak256 / Merkle / receipt code under node against the golden vectors;
// prints one JSON report for tests/web/test_web_proofs.py to assert on.
import { readFileSync } from "node:fs";
import { createHash } from "node:crypto";
import { keccak256 } from "../../backend/web/static/js/keccak.js";
import {
  encodeEvidenceLeaf, fromHex, processProof, standardLeafHash, toHex, verifyEvidenceReceipt, verifyShareReceipt,
} from "../../backend/web/static/js/proofs.js";

const vectors = (name) => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), "utf8"));
const report = { keccak: [], merkle: [], commitments: [], evidence: [], share: [] };

// keccak256 of every length around the 136-byte rate boundary, against node's sha3 where present.
// keccak256 of lengths around the 136-byte rate boundary: the test compares with the C keccak.
const lengths = [0, 1, 31, 32, 33, 64, 135, 136, 137, 271, 272, 273, 1000];
for (const n of lengths) {
  const data = new Uint8Array(n).map((_, i) => (i * 7 + 3) & 0xff);
  report.keccak.push({ length: n, hex: toHex(data), got: toHex(keccak256(data)) });
}

const merkle = vectors("merkle_standard.json");
for (const c of merkle.cases) {
  if (c.leafTypes.join() !== "bytes32,bytes32,bytes") continue;
  c.values.forEach((v, i) => {
    const leaf = { claimRef: v[0], contentCommitment: v[1], cid: v[2] };
    const leafHash = standardLeafHash(encodeEvidenceLeaf(leaf));
    const root = processProof(leafHash, c.proofs[i].map(fromHex));
    report.merkle.push({ name: c.name, i, leafHash: toHex(leafHash), want: c.leafHashes[i], root: toHex(root), wantRoot: c.root });
  });
}

const evidence = vectors("receipt_evidence.json");
for (const c of evidence.commitments.contentCommitment) {
  const got = toHex(keccak256(new Uint8Array([...fromHex(c.plaintextSha256), ...fromHex(c.salt)])));
  const sha = "0x" + createHash("sha256").update(Buffer.from(c.plaintext.replace(/^0x/, ""), c.plaintext.startsWith("0x") ? "hex" : "utf8")).digest("hex");
  report.commitments.push({ got, want: c.commitment, sha, wantSha: c.plaintextSha256 });
}

function mutate(base, m) {
  const doc = structuredClone(base);
  for (const [path, value] of Object.entries(m.set || {})) {
    const keys = path.split(".");
    let obj = doc;
    for (const k of keys.slice(0, -1)) obj = obj[k];
    obj[keys.at(-1)] = value;
  }
  for (const path of m.delete || []) delete doc[path];
  return doc;
}

for (const receipt of [evidence.receipt, evidence.publicReceipt]) {
  const r = verifyEvidenceReceipt(receipt);
  report.evidence.push({ name: "unaltered", ok: r.ok, failedStep: r.failedStep ?? null, want: null });
}
for (const m of evidence.mutations) {
  const r = verifyEvidenceReceipt(mutate(evidence.receipt, m));
  report.evidence.push({ name: m.name, ok: r.ok, failedStep: r.failedStep ?? null, want: m.offline });
}

// Steps 6–11 against the vectors' chain (what GET /anchors/{batchId} reports); 12–13 are the CLI's.
const chainOf = (batchId) => {
  const batch = evidence.chain.batches.find((b) => b.batchId === batchId);
  if (!batch) return { chainId: null, contract: null, batch: null };
  return { chainId: evidence.chain.chainId, contract: evidence.chain.contract, batch: { ...batch, blockNumber: batch.block } };
};
report.evidenceOnchain = [];
for (const receipt of [evidence.receipt, evidence.publicReceipt]) {
  const r = verifyEvidenceReceipt(receipt, chainOf(receipt.batchId));
  report.evidenceOnchain.push({ name: "unaltered", ok: r.ok, failedStep: r.failedStep ?? null, want: null, steps: r.steps.length });
}
for (const m of evidence.mutations) {
  const doc = mutate(evidence.receipt, m);
  const r = verifyEvidenceReceipt(doc, chainOf(doc.batchId));
  const want = m.onchain !== null && m.onchain <= 11 ? m.onchain : null;
  report.evidenceOnchain.push({ name: m.name, ok: r.ok, failedStep: r.failedStep ?? null, want, steps: r.steps.length });
}

const share = vectors("apportionment.json");
const r0 = verifyShareReceipt(share.receipt, null);
report.share.push({ name: "unaltered", ok: r0.ok, failedStep: r0.failedStep ?? null, want: null });
for (const m of share.receiptMutations) {
  const r = verifyShareReceipt(mutate(share.receipt, m), null);
  report.share.push({ name: m.why, ok: r.ok, failedStep: r.failedStep ?? null, want: m.step });
}
// Step 7: the receipt against the chain's record of its period (as GET /periods reports it).
const recorded = share.receiptMutations.find((m) => m.step === null);
const anchored = mutate(share.receipt, recorded);
const chainRecord = {
  ...anchored.period,
  periodId: anchored.periodId,
  chainId: anchored.chainId,
  contract: anchored.contract.toLowerCase(),
  ledgerRoot: anchored.ledgerRoot,
  ledgerCidHex: anchored.ledgerCid,
  blockNumber: 7,
};
report.chain = [];
for (const [name, change] of [
  ["the chain's record", {}],
  ["another ledger root on chain", { ledgerRoot: "0x" + "42".repeat(32) }],
  ["another member count on chain", { memberCount: anchored.period.memberCount + 1 }],
  ["another contract", { contract: "0x" + "11".repeat(20) }],
  ["another ledger file", { ledgerCidHex: "0x0155122000" }],
]) {
  const r = verifyShareReceipt(anchored, { ...chainRecord, ...change });
  report.chain.push({ name, ok: r.ok, failedStep: r.failedStep ?? null, steps: r.steps.length });
}
process.stdout.write(JSON.stringify(report));
