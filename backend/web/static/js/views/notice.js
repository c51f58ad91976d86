// The public notice: claims in their objection window, redacted (no names, no documents).

import { api } from "../api.js";
import { signObjection } from "../device/claim_keys.js";
import { clear, fen, h, loading, short, showError, when } from "../ui.js";

const HINTS = {
  OBJECTION_EXISTS: "You already objected to this claim.",
  OWN_CLAIM: "You cannot object to your own claim.",
  NOTICE_CLOSED: "The objection window has closed.",
  VALIDATION_ERROR: "Please give a reason.",
  DRAFT_MISMATCH: "The server's draft was not an objection to this claim: nothing was signed.",
};

export async function renderNotice(ctx) {
  ctx.main.append(h("h1", {}, "Public notice"), loading());
  const entries = await api("/notice?limit=100");
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(
    h("h1", {}, "Public notice"),
    h("p", { class: "hint" }, "Claims approved by review are shown here, without names or documents, before they are paid. Any member who knows of a reason the claim is not genuine can object; an objection sends the claim to a jury of members."),
  );
  if (!entries.length) {
    ctx.main.append(h("p", { class: "muted" }, "No claim is in public notice."));
    return;
  }
  const canObject = ctx.session.role === "member";
  ctx.main.append(
    h(
      "ul",
      { class: "grid two", id: "notice-list" },
      entries.map((n) => {
        const errors = h("div", { "aria-live": "assertive" });
        const id = `reason-${n.noticeId.slice(2, 14)}`;
        const form = h(
          "form",
          { novalidate: true },
          errors,
          h("div", { class: "field" }, h("label", { for: id }, "Reason for objecting"), h("textarea", { id, name: "reason", maxlength: 500, required: true, "aria-describedby": `${id}-hint` }), h("span", { class: "hint", id: `${id}-hint` }, "Kept off chain; shown to the jurors only. Your browser signs the objection with a key made for it alone.")),
          h("button", { type: "submit" }, "Object"),
        );
        form.addEventListener("submit", async (e) => {
          e.preventDefault();
          const reason = form.reason.value.trim();
          if (!reason) {
            showError(errors, { code: "VALIDATION_ERROR", message: "reason: write why you object" }, HINTS);
            return;
          }
          try {
            // Signed in this browser by a key made for this objection alone; the server relays it.
            const draft = await api(`/notice/${n.noticeId}/objections/draft`, { method: "POST" });
            const signed = await signObjection(draft, n.noticeId);
            const out = await api(`/notice/${n.noticeId}/objections`, { method: "POST", json: { reason, ...signed } });
            clear(form).append(h("div", { class: "success", role: "status" }, `Objection recorded: the claim is now ${out.status}.`));
          } catch (err) {
            showError(errors, err, HINTS);
          }
        });
        return h(
          "li",
          { class: "card" },
          h("h2", {}, `${n.illnessCode} · age ${n.ageBand}`),
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Payout"),
            h("dd", {}, fen(n.payoutFen)),
            h("dt", {}, "Objections until"),
            h("dd", {}, when(n.noticeEnds)),
            h("dt", {}, "Notice id"),
            h("dd", { class: "mono" }, short(n.noticeId)),
            h("dt", {}, "Review reports"),
            h("dd", { class: "mono" }, n.reportHashes.map((x) => short(x)).join(", ")),
          ),
          canObject ? h("details", {}, h("summary", {}, "Object to this claim"), form) : null,
        );
      }),
    ),
  );
}
