// Reviewer pages: the queue, and a claim with the four evidence checks, the decrypted document
// shown inline, and the verdict form.

import { api } from "../api.js";
import { badge, clear, dataTable, facts, fen, h, loading, short, showDocument, showError, when } from "../ui.js";
import { myKey, renderReviewerKey, submitDeviceVerdict, verdictNeedsPassphrase } from "../device/review_signing.js";

export const REASON_CODES = [
  ["WAITING_PERIOD", "Diagnosed within the waiting period"],
  ["NOT_COVERED", "Illness not covered"],
  ["NON_DISCLOSURE", "Condition not disclosed when joining"],
  ["NOT_A_MEMBER", "Not a member at diagnosis"],
  ["DUPLICATE_EVIDENCE", "Evidence already used for another claim"],
  ["INSUFFICIENT_EVIDENCE", "Evidence does not establish the diagnosis"],
  ["FRAUD", "Fraud"],
];
const CHECK_LABELS = {
  decrypt: "Decrypts with the plan's key",
  rehash: "Re-hashes to the recorded sha256, size and CID",
  commitment: "Matches the salted commitment",
  inclusion: "Included in an anchored batch on chain",
};
const HINTS = { VERDICT_EXISTS: "You already gave a verdict.", REASON_REQUIRED: "Choose a reason to reject." };

export async function renderQueue(ctx) {
  ctx.main.append(h("h1", {}, "Review queue"), loading());
  const [queue, key] = await Promise.all([api("/review/queue"), myKey()]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(h("h1", {}, "Review queue"));
  if (key.deviceKeysSupported) renderReviewerKey(ctx.main.appendChild(h("div")), key, () => ctx.go(location.hash, "Your signing key changed."));
  if (!queue.length) {
    ctx.main.append(h("p", { class: "muted" }, "Nothing is assigned to you."));
    return;
  }
  ctx.main.append(
    dataTable(
      "queue-table",
      [["Claim"], ["Illness"], ["Status"], ["Assigned"], ["My verdict"]],
      queue.map((q) => [
        h("a", { href: `#/review/${q.id}`, class: "mono" }, short(q.claimId, 6)),
        [q.illnessCode, q.flags.length ? h("span", { class: "hint" }, ` (${q.flags.join(", ")})`) : null],
        badge(q.status),
        when(q.assignedAt),
        q.verdict ? badge(q.verdict) : h("span", { class: "muted" }, "pending"),
      ]),
    ),
  );
}

function checkList(result) {
  return h(
    "ul",
    { class: "checks", "data-verified": result.verified ? "true" : "false" },
    result.checks.map((c) =>
      h(
        "li",
        { dataset: { check: c.name, status: c.status } },
        h("span", { class: `mark ${c.status}`, "aria-hidden": "true" }, c.status === "pass" ? "✓" : c.status === "fail" ? "✗" : "…"),
        h("span", {}, h("span", { class: "visually-hidden" }, `${c.status}: `), CHECK_LABELS[c.name] || c.name, h("br"), h("span", { class: "hint" }, c.detail)),
      ),
    ),
  );
}

export async function renderReview(ctx, claimPk) {
  ctx.main.append(h("h1", {}, "Review"), loading());
  const [detail, key] = await Promise.all([api(`/review/claims/${claimPk}`), myKey()]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  const claim = detail.claim;
  const statusSlot = h("span", { id: "review-status" }, badge(claim.status)); // updated by the verdict
  ctx.main.append(
    h("h1", {}, `Review: ${claim.illnessCode}`),
    h(
      "section",
      { class: "card" },
      facts([
        ["Status", statusSlot],
        ["Payout", fen(claim.payoutFen)],
        ["Diagnosed", `${claim.diagnosisDate} (age ${detail.memberAgeAtDiagnosis})`],
        ["Member joined", when(detail.joinedAt)],
        ["Waiting period ended", when(detail.waitingEndsAt)],
        claim.flags.length ? ["Flags", claim.flags.join(", ")] : null,
        ["Claim id", h("span", { class: "mono" }, claim.claimId)],
      ]),
    ),
    h("h2", {}, "Evidence"),
  );
  const list = h("ul", { class: "grid", id: "evidence-review" });
  ctx.main.append(list);
  for (const ev of claim.evidence) {
    const checks = h("div", { class: "checks-slot" }, loading("Checking…"));
    const doc = h("div", { class: "doc-slot" });
    const errors = h("div");
    const show = h("button", { type: "button", class: "secondary" }, "Show document");
    show.addEventListener("click", async () => {
      clear(doc).append(loading("Decrypting…"));
      try {
        const res = await api(`/review/claims/${claimPk}/evidence/${ev.id}/content`, { raw: true });
        await showDocument(doc, res, ev.mediaType, `Evidence document ${ev.id}`);
      } catch (err) {
        clear(doc);
        showError(errors, err);
      }
    });
    list.append(h("li", { class: "card", dataset: { evidence: ev.id } }, h("h3", {}, `${ev.mediaType} · ${Math.ceil(ev.size / 1024)} KB`, ev.duplicate ? " · duplicate of another claim's evidence" : ""), checks, errors, h("div", { class: "row" }, show), doc));
    api(`/review/claims/${claimPk}/evidence/${ev.id}/verification`).then(
      (result) => clear(checks).append(h("p", {}, h("strong", {}, result.verified ? "✓ All four checks pass" : "✗ Not verified")), checkList(result)),
      (err) => showError(checks, err),
    );
  }
  ctx.main.append(h("h2", {}, "Verdict"));
  if (detail.verdict) {
    ctx.main.append(h("div", { class: "success" }, `Your verdict: ${detail.verdict}${detail.reasonCode ? ` (${detail.reasonCode})` : ""}.`));
    return;
  }
  if (key.custody === "none") {
    ctx.main.append(h("p", { class: "hint" }, "Register your signing key on the ", h("a", { href: "#/review" }, "review queue page"), " before giving a verdict."));
    return;
  }
  const onDevice = key.custody === "device";
  const passphrase = verdictNeedsPassphrase(key)
    ? h("div", { class: "field" }, h("label", { for: "verdict-passphrase" }, "Passphrase of your signing key"), h("input", { id: "verdict-passphrase", type: "password", required: true, autocomplete: "current-password" }))
    : null;
  const progress = h("p", { class: "hint", role: "status", id: "verdict-progress" });
  const errors = h("div", { "aria-live": "assertive" });
  const reason = h("select", { id: "reason", name: "reason", disabled: true }, h("option", { value: "" }, "Choose a reason…"), REASON_CODES.map(([code, label]) => h("option", { value: code }, `${label} (${code})`)));
  const form = h(
    "form",
    { class: "card", id: "verdict-form", novalidate: true },
    errors,
    h(
      "fieldset",
      {},
      h("legend", {}, "Decision"),
      h(
        "div",
        { class: "choice" },
        h("label", {}, h("input", { type: "radio", name: "verdict", value: "APPROVE", required: true }), "Approve"),
        h("label", {}, h("input", { type: "radio", name: "verdict", value: "REJECT", required: true }), "Reject"),
      ),
    ),
    h("div", { class: "field" }, h("label", { for: "reason" }, "Reason code (to reject)"), reason),
    h("div", { class: "field" }, h("label", { for: "report" }, "Report"), h("textarea", { id: "report", name: "report", required: true, maxlength: 20000, "aria-describedby": "report-hint" }), h("span", { class: "hint", id: "report-hint" }, onDevice ? "Stored encrypted; only its salted hash goes on chain. Your key signs the verdict on this device; the server only relays it." : "Stored encrypted; only its salted hash goes on chain. The server-held key signs it until you register your own on the review queue page.")),
    passphrase,
    h("button", { type: "submit" }, onDevice ? "Sign on this device and submit" : "Sign and submit verdict"),
    progress,
  );
  form.addEventListener("change", () => {
    const v = form.querySelector("input[name=verdict]:checked");
    reason.disabled = !v || v.value !== "REJECT";
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const v = form.querySelector("input[name=verdict]:checked");
    const report = form.report.value.trim();
    if (!v || !report || (v.value === "REJECT" && !reason.value)) {
      showError(errors, { code: "VALIDATION_ERROR", message: !v ? "choose approve or reject" : !report ? "write the report" : "choose a reason code" });
      return;
    }
    try {
      const choice = { verdict: v.value, reasonCode: v.value === "REJECT" ? reason.value : null, report };
      const out = onDevice
        ? await submitDeviceVerdict(claimPk, key, choice, { claimId: claim.claimId, reasonCode: choice.reasonCode ? 1 + REASON_CODES.findIndex(([c]) => c === choice.reasonCode) : 0 }, passphrase ? form.querySelector("#verdict-passphrase").value : null, (text) => (progress.textContent = text))
        : await api(`/review/claims/${claimPk}/verdict`, { method: "POST", json: { verdict: choice.verdict, reasonCode: choice.reasonCode, report } });
      clear(form).append(
        h("div", { class: "success", role: "status", id: "verdict-done" }, `Verdict ${out.verdict} recorded${out.blockNumber ? ` in block ${out.blockNumber}` : ""}. The claim is now ${out.claim.status}.`),
        out.txHash ? h("p", { class: "hint mono" }, `tx ${out.txHash}`) : null,
      );
      clear(statusSlot).append(badge(out.claim.status)); // the deciding verdict moves the claim on

    } catch (err) {
      progress.textContent = ""; // not "Unlocking your key…" beside the error
      showError(errors, err, HINTS);
    }
  });
  ctx.main.append(form);
}
