// The reviewer's side of device-signed verdicts: the key card on the review pages, and a verdict
// drafted by the server, signed here (device keystore or browser wallet), and sent back as
// {message, signature}. The passphrase and the key stay in this page.

import { api, session } from "../api.js";
import { h } from "../ui.js";
import { myKey, needsPassphrase, registerKey, renderKeyPanel, signerFor } from "./key_panel.js";
import { VERDICT_APPROVE, VERDICT_REJECT, reportHash } from "./typed_data.js";
import { signHubaoTypedData } from "./wallet.js";

export { myKey, registerKey };

/** Render the key card (and, for a server-held key, why to replace it) into `slot`; `onChange` re-renders the page. */
export function renderReviewerKey(slot, key, onChange) {
  const me = session.get();
  const legacy = key.custody === "server";
  return renderKeyPanel(slot, {
    account: me.id,
    registered: key.custody === "device" ? key.address : null,
    onRegister: registerKey,
    onChange,
    onChainRole: key.onChainRole,
    timeZone: key.planTimeZone,
    note: legacy
      ? "Your verdicts are still signed with a key the server holds. Create or import your own key and register it: from then on only you can sign your verdicts, and the server's key is retired."
      : null,
  });
}

/** Whether the verdict form needs a passphrase field (device custody with the key kept in this browser). */
export function verdictNeedsPassphrase(key) {
  return key.custody === "device" && needsPassphrase(session.get().id, key.address);
}

/**
 * Draft, sign on this device and submit a verdict. `choice` = {verdict, reasonCode, report};
 * `expect` = {claimId, reasonCode: the uint16 on chain}. Before anything is signed the draft must be
 * what the reviewer chose: this claim, verdict, reason, this report's salted hash, the registered key.
 */
export async function submitDeviceVerdict(claimPk, key, choice, expect, passphraseValue, onStep = () => {}) {
  onStep("Preparing the verdict…");
  const draft = await api(`/review/claims/${claimPk}/verdict/draft`, { method: "POST", json: choice });
  const doc = draft.typedData;
  const m = doc.message;
  const want = choice.verdict === "APPROVE" ? VERDICT_APPROVE : VERDICT_REJECT;
  const same =
    Number(m.verdict) === want &&
    Number(m.reasonCode) === expect.reasonCode &&
    String(m.claimId).toLowerCase() === String(expect.claimId).toLowerCase() &&
    String(m.reportHash).toLowerCase() === reportHash(choice.report, draft.reportSalt) &&
    draft.signer.toLowerCase() === key.address.toLowerCase();
  if (!same) {
    throw { code: "DRAFT_MISMATCH", message: "the server's draft is not the verdict you chose: nothing was signed" };
  }
  onStep("Unlocking your key…");
  const signer = await signerFor(session.get().id, key.address, passphraseValue);
  let signed;
  try {
    onStep("Signing on this device…");
    signed = await signHubaoTypedData(signer, doc, { primaryType: "Verdict" });
  } finally {
    signer.lock();
  }
  onStep("Relaying the signed verdict…");
  return api(`/review/claims/${claimPk}/verdict/signed`, { method: "POST", json: { message: doc.message, signature: signed.signature } });
}
