// Juror pages: seats, the case, commit then reveal.
//
// The API keeps each vote's salt on the server (POST .../reveal takes no body) and signs with the
// juror's server-held key. The browser keeps its own record of what it committed (localStorage:
// vote and time, per claim and round) so the juror can see, before revealing, what they chose.

import { api } from "../api.js";
import { badge, clear, facts, fen, h, loading, showError, when } from "../ui.js";
import { demoClockButton, planTime, votingPhase, windowFacts } from "./chain_clock.js";

const STORE = "hubao.jury.commits";
const HINTS = {
  COMMIT_CLOSED: "The commit window has closed.",
  REVEAL_NOT_OPEN: "Revealing opens when the commit window ends.",
  REVEAL_CLOSED: "The reveal window has closed.",
  ALREADY_COMMITTED: "You already committed.",
};

function commits() {
  try {
    return JSON.parse(localStorage.getItem(STORE) || "{}");
  } catch {
    return {};
  }
}

function remember(key, value) {
  const all = commits();
  all[key] = value;
  localStorage.setItem(STORE, JSON.stringify(all));
}

export async function renderJury(ctx) {
  ctx.main.append(h("h1", {}, "Jury"), loading());
  const seats = await api("/jury/assignments");
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(h("h1", {}, "Jury"));
  if (!seats.length) {
    ctx.main.append(h("p", { class: "muted" }, "You have no jury seat."));
    return;
  }
  ctx.main.append(
    h(
      "ul",
      { class: "grid two", id: "jury-seats" },
      seats.map((a) =>
        h(
          "li",
          { class: "card" },
          h("h2", {}, h("a", { href: `#/jury/${a.id}` }, `${a.illnessCode} · round ${a.round}`)),
          facts([
            ["Status", badge(a.status)],
            ["Payout", fen(a.payoutFen)],
            ["Commit until", when(a.commitEnds)],
            ["Reveal until", when(a.revealEnds)],
            ["You", a.revealed ? "revealed" : a.committed ? "committed, not revealed" : "not committed"],
          ]),
        ),
      ),
    ),
  );
}

export async function renderCase(ctx, claimPk) {
  ctx.main.append(h("h1", {}, "Jury case"), loading());
  const [c, clock] = await Promise.all([api(`/jury/claims/${claimPk}`), api("/chain/time")]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  const a = c.assignment;
  const phase = votingPhase(a, clock.chainTime);
  const key = `${claimPk}:${a.round}`;
  const mine = commits()[key];
  ctx.main.append(
    h("h1", {}, `Jury case: ${a.illnessCode}`),
    h(
      "section",
      { class: "card" },
      facts([
        ["Status", badge(a.status)],
        ["Payout", fen(a.payoutFen)],
        ["Age band", c.ageBand],
        ["Round", String(a.round)],
        ...windowFacts(a, clock),
        c.appealed ? ["Appealed", "yes: the claimant appealed a rejection"] : null,
      ]),
    ),
    h("h2", {}, "Reviewers' verdicts"),
    h("ul", {}, c.verdicts.map((v) => {
      const reason = v.reasonCode;
      return h("li", {}, `${v.verdict}${reason && reason !== "APPROVED" ? ` (${reason})` : ""}: `, h("q", {}, v.report || ""));
    })),
    h("section", { id: "objections" }, c.objections.length ? [h("h2", {}, "Objections"), h("ul", {}, c.objections.map((o) => h("li", {}, h("q", {}, o))))] : null),
    h("h2", {}, "Your vote"),
  );
  const errors = h("div", { "aria-live": "assertive" });
  const panel = h("div", { class: "card", id: "vote-panel" }, errors);
  ctx.main.append(panel);
  if (a.revealed) {
    panel.append(h("div", { class: "success" }, `You revealed: ${a.vote ? "approve" : "reject"}.`));
    return;
  }
  if (a.committed) {
    panel.append(h("p", {}, mine ? `You committed to ${mine.approve ? "approve" : "reject"} on ${when(mine.at)} (kept in this browser).` : "You committed a vote."));
    if (phase !== "reveal") {
      panel.append(
        h("p", { class: "hint", id: "reveal-wait" }, phase === "commit" ? `Revealing opens at ${planTime(a.commitEnds, clock)} (chain time), when the commit window ends: come back then.` : `The reveal window closed at ${planTime(a.revealEnds, clock)} (chain time).`),
        phase === "commit" ? demoClockButton(ctx, clock, a.commitEnds, `#/jury/${claimPk}`) : null,
      );
      return;
    }
    panel.append(h("p", { class: "hint" }, `The reveal window is open until ${planTime(a.revealEnds, clock)} (chain time).`));
    const reveal = h("button", { type: "button", id: "reveal" }, "Reveal my vote");
    reveal.addEventListener("click", async () => {
      try {
        const out = await api(`/jury/claims/${claimPk}/reveal`, { method: "POST" });
        clear(panel).append(h("div", { class: "success", role: "status" }, `Revealed: ${out.vote ? "approve" : "reject"}.`));
      } catch (err) {
        showError(errors, err, HINTS);
      }
    });
    panel.append(reveal);
    return;
  }
  const form = h(
    "form",
    { novalidate: true, id: "commit-form" },
    h(
      "fieldset",
      {},
      h("legend", {}, "Should the claim be paid?"),
      h(
        "div",
        { class: "choice" },
        h("label", {}, h("input", { type: "radio", name: "vote", value: "approve", required: true }), "Approve"),
        h("label", {}, h("input", { type: "radio", name: "vote", value: "reject", required: true }), "Reject"),
      ),
    ),
    h("p", { class: "hint" }, "Your vote stays secret until you reveal it: only a hash of it goes on chain now."),
    h("button", { type: "submit" }, "Commit my vote"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const picked = form.querySelector("input[name=vote]:checked");
    if (!picked) {
      showError(errors, { code: "VALIDATION_ERROR", message: "choose approve or reject" });
      return;
    }
    const approve = picked.value === "approve";
    try {
      await api(`/jury/claims/${claimPk}/commit`, { method: "POST", json: { approve } });
      remember(key, { approve, at: new Date().toISOString() });
      ctx.go(`#/jury/${claimPk}`, "Vote committed. Come back to reveal it when the commit window ends.");
    } catch (err) {
      showError(errors, err, HINTS);
    }
  });
  panel.append(form);
}
