// Runs the browser's device-key modules (backend/web/static/js/device/) under node — the same ES
// modules the page loads, with their vendored noble imports — on a request read as JSON from stdin;
// prints one JSON report for tests/device/test_device_modules.py to compare with eth-account.
//
//   stdin:  {"vectors": <tests/vectors/eip712_verdict.json>, "keystores": [{name, keystore, passphrase}],
//            "typedData": [{name, doc}], "make": [{name, passphrase, n?}]}
import { readFileSync } from "node:fs";
import { decryptKeystore, encryptKeystore, generatePrivateKey, addressOf, hexToBytes, bytesToHex, KeystoreError } from "../../backend/web/static/js/device/keystore.js";
import {
  KEY_REGISTRATION_FIELDS, VERDICT_FIELDS, domainSeparator, reportHash, encodeType, hashTypedData, recoverTypedDataSigner, signTypedData, verdictTypedData,
} from "../../backend/web/static/js/device/typed_data.js";

const request = JSON.parse(readFileSync(0, "utf8"));
const hex = (b) => `0x${bytesToHex(b)}`;
const report = { vectors: [], decrypted: [], made: [], typedData: [] };
report.types = {
  verdict: encodeType("Verdict", { Verdict: VERDICT_FIELDS }),
  keyRegistration: KEY_REGISTRATION_FIELDS,
};

for (const c of request.vectors.vectors) {
  const doc = verdictTypedData(c.domain, c.verdict);
  const signature = signTypedData(doc, hexToBytes(c.privateKey));
  report.vectors.push({
    name: c.name,
    domainSeparator: hex(domainSeparator(doc)),
    digest: hex(hashTypedData(doc)),
    signature,
    recovered: recoverTypedDataSigner(doc, signature),
    recoveredGolden: recoverTypedDataSigner(doc, c.signature),
    address: addressOf(hexToBytes(c.privateKey)),
  });
}

for (const k of request.keystores) {
  try {
    const key = await decryptKeystore(k.keystore, k.passphrase);
    report.decrypted.push({ name: k.name, ok: true, address: addressOf(key) });
  } catch (err) {
    report.decrypted.push({ name: k.name, ok: false, code: err instanceof KeystoreError ? err.code : String(err) });
  }
}

for (const m of request.make) {
  const key = generatePrivateKey();
  const keystore = await encryptKeystore(key, m.passphrase, m.n ? { scrypt: { n: m.n } } : {});
  report.made.push({ name: m.name, keystore, address: addressOf(key) });
}

for (const t of request.typedData) {
  try {
    report.typedData.push({ name: t.name, digest: hex(hashTypedData(t.doc)) });
  } catch (err) {
    report.typedData.push({ name: t.name, error: String(err.message || err) });
  }
}
report.reportHashes = (request.reports || []).map((r) => ({ ...r, got: reportHash(r.report, r.salt) }));
process.stdout.write(JSON.stringify(report));
