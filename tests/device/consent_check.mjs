// Runs the browser's member-action modules (typed_data.js consentTypedData, claim_keys.js) under node
// on the vectors read as JSON from stdin; prints one JSON report for tests/device/test_consent_typed_data.py.
//
//   stdin: {"vectors": [{name, kind, domain, message, privateKey}]}
import { readFileSync } from "node:fs";
import { bytesToHex, hexToBytes } from "../../backend/web/static/js/device/keystore.js";
import { consentTypedData, hashTypedData, recoverTypedDataSigner, signTypedData } from "../../backend/web/static/js/device/typed_data.js";
import { signObjection } from "../../backend/web/static/js/device/claim_keys.js";

const request = JSON.parse(readFileSync(0, "utf8"));
const report = { vectors: [] };
for (const v of request.vectors) {
  const doc = consentTypedData(v.domain, v.kind, v.message);
  const signature = signTypedData(doc, hexToBytes(v.privateKey));
  const entry = { name: v.name, document: doc, digest: `0x${bytesToHex(hashTypedData(doc))}`, signature };
  if (v.kind === "Objection") {
    const signed = await signObjection({ typedData: doc, signer: null }, v.message.claimId);
    entry.objection = { ...signed, recovered: recoverTypedDataSigner(doc, signed.signature) };
    try {
      await signObjection({ typedData: doc, signer: null }, `0x${"00".repeat(32)}`);
    } catch (err) {
      entry.otherClaimRefused = err.code;
    }
  }
  report.vectors.push(entry);
}
process.stdout.write(JSON.stringify(report));
