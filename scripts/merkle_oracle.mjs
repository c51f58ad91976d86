#!/usr/bin/env node
// Independent oracle for backend/proofs/merkle.py: runs @openzeppelin/merkle-tree (the pinned
// npm package) on requests read as JSON from stdin and prints JSON answers on stdout.
//
//   stdin:  {"requests": [REQUEST, ...]}   or a single REQUEST
//   stdout: {"responses": [ANSWER, ...]}   or a single ANSWER
//
// REQUEST kinds ("op"):
//   build             {leafTypes, values, sortLeaves?, multiproofs?: [[valueIndex, ...], ...]}
//                  -> {root, tree, proofs (per value index), leafHashes (per value index),
//                      treeIndices (per value index), dump, multiproofs: [{leaves, proof, proofFlags}]}
//   verify            {root, leafTypes, leaf, proof}           -> {valid, error}  StandardMerkleTree.verify
//   verifyHash        {root, leafHash, proof}                  -> {valid, error}  SimpleMerkleTree.verify
//   verifyMultiProof  {root, leafTypes, leaves, proof, proofFlags} -> {valid, error}
//   load              {dump}                                   -> {valid, error, root}
//   bench             {leafTypes, values, repeat}              -> {seconds} (best of `repeat` builds)
//   keccakAbi         {types, values}                           -> {encoded, hash}  keccak256(abi.encode(...))
//   keccak            {data}                                    -> {hash}           keccak256(data)
//   sha256            {data}                                    -> {hash}           node:crypto SHA-256
// Values use the JSON form of backend/proofs/leaves.py (hex bytes, decimal-string integers).
// A library exception in a verify* or load request is an answer (valid: false), not a crash.
import { createHash } from "node:crypto";
import { encode } from "@metamask/abi-utils";
import { SimpleMerkleTree, StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { keccak256 } from "ethereum-cryptography/keccak.js";
import { bytesToHex, hexToBytes } from "ethereum-cryptography/utils.js";

function build(req) {
  const tree = StandardMerkleTree.of(req.values, req.leafTypes, { sortLeaves: req.sortLeaves ?? true });
  const dump = tree.dump();
  const proofs = req.values.map((_, i) => tree.getProof(i));
  const treeIndices = dump.values.map((v) => v.treeIndex);
  const leafHashes = treeIndices.map((t) => dump.tree[t]);
  const multiproofs = (req.multiproofs ?? []).map((indices) => tree.getMultiProof(indices));
  return { root: tree.root, tree: dump.tree, proofs, leafHashes, treeIndices, dump, multiproofs };
}

function guarded(fn) {
  try {
    return { valid: fn() === true, error: null };
  } catch (e) {
    return { valid: false, error: String(e && e.message ? e.message : e) };
  }
}

function answer(req) {
  switch (req.op) {
    case "build":
      return build(req);
    case "verify":
      return guarded(() => StandardMerkleTree.verify(req.root, req.leafTypes, req.leaf, req.proof));
    case "verifyHash":
      return guarded(() => SimpleMerkleTree.verify(req.root, req.leafHash, req.proof));
    case "verifyMultiProof":
      return guarded(() =>
        StandardMerkleTree.verifyMultiProof(req.root, req.leafTypes, {
          leaves: req.leaves,
          proof: req.proof,
          proofFlags: req.proofFlags,
        }),
      );
    case "load": {
      try {
        const tree = StandardMerkleTree.load(req.dump);
        return { valid: true, error: null, root: tree.root };
      } catch (e) {
        return { valid: false, error: String(e && e.message ? e.message : e), root: null };
      }
    }
    case "bench": {
      let best = Infinity;
      for (let r = 0; r < (req.repeat ?? 1); r++) {
        const t0 = process.hrtime.bigint();
        StandardMerkleTree.of(req.values, req.leafTypes);
        const dt = Number(process.hrtime.bigint() - t0) / 1e9;
        best = Math.min(best, dt);
      }
      return { seconds: best };
    }
    case "keccakAbi": {
      const encoded = encode(req.types, req.values);
      return { encoded: "0x" + bytesToHex(encoded), hash: "0x" + bytesToHex(keccak256(encoded)) };
    }
    case "keccak":
      return { hash: "0x" + bytesToHex(keccak256(hexToBytes(req.data))) };
    case "sha256":
      return { hash: "0x" + createHash("sha256").update(hexToBytes(req.data)).digest("hex") };
    default:
      throw new Error(`unknown op ${JSON.stringify(req.op)}`);
  }
}

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
const doc = JSON.parse(input);
const out = Array.isArray(doc.requests) ? { responses: doc.requests.map(answer) } : answer(doc);
process.stdout.write(JSON.stringify(out));
