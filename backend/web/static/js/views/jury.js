// Juror pages: seats, the case, commit then reveal — signed with the juror's own key.
//
// The juror's key is on this device (the keystore under their passphrase, or a browser wallet);
// the server holds only its address. Committing: the device derives the round's salt by signing
// VoteSalt(claimId, round) (the signature is hashed, never sent), signs VoteCommit(claimId, round,
// commitment) and sends {commitment, signature}; the operator relays it. Revealing: the device
// re-derives the salt, opens the on-chain commitment both ways to find the vote, and sends
// {approve, salt}. Nothing about the vote is stored in this browser or on the server before the
// reveal: a lost tab loses nothing (device/jury_signing.js).

import { api, session } from "../api.js";
import { commitJuryVote, myCommittedVote, revealJuryVote } from "../device/jury_signing.js";
import { myKey, needsPassphrase, registerKey, renderKeyPanel, signerFor } from "../device/key_panel.js";
import { badge, clear, facts, fen, h, loading, showError, when } from "../ui.js";
import { demoClockButton, planTime, votingPhase, windowFacts } from "./chain_clock.js";

const HINTS = {
  COMMIT_CLOSED: "The commit window has closed.",
  REVEAL_NOT_OPEN: "Revealing opens when the commit window ends.",
  REVEAL_CLOSED: "The reveal window has closed.",
  ALREADY_COMMITTED: "You already committed.",
  WRONG_PASSPHRASE: "The passphrase does not open your key.",
  WRONG_SIGNER: "This key does not hold your jury seat.",
  COMMITMENT_MISMATCH: "This key does not open your committed vote.",
  KEY_NOT_REGISTERED: "Register your own signing key first.",
  NONDETERMINISTIC_WALLET: "This wallet cannot re-derive your vote's secret: use a key kept in this browser or hubao sign vote.",
};

function jurorKey(slot, key, onChange) {
  return renderKeyPanel(slot, {
    account: session.get().id,
    registered: key.custody === "device" ? key.address : null,
    onRegister: registerKey,
    onChange,
    onChainRole: key.onChainRole,
    timeZone: key.planTimeZone,
    note:
      key.custody === "server"
        ? "Your jury votes can no longer be signed by a key the server holds. Create or import your own key and register it: only you can then commit and reveal your votes, and the server's key is retired."
        : "You have no signing key yet. Create one here or import a keystore file: only you will hold it, and only you can then vote.",
  });
}

export async function renderJury(ctx) {
  ctx.main.append(h("h1", {}, "Jury"), loading());
  const [seats, key] = await Promise.all([api("/jury/assignments"), myKey()]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(h("h1", {}, "Jury"));
  jurorKey(ctx.main.appendChild(h("div")), key, () => ctx.go(location.hash, "Your signing key changed."));
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

function passphraseField(show) {
  if (!show) return null;
  return h(
    "div",
    { class: "field" },
    h("label", { for: "vote-passphrase" }, "Passphrase of your signing key"),
    h("input", { id: "vote-passphrase", name: "vote-passphrase", type: "password", required: true, autocomplete: "current-password" }),
    h("span", { class: "hint" }, "It unlocks your key in this browser only; it is never sent."),
  );
}

export async function renderCase(ctx, claimPk) {
  ctx.main.append(h("h1", {}, "Jury case"), loading());
  const [c, key, clock] = await Promise.all([api(`/jury/claims/${claimPk}`), myKey(), api("/chain/time")]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  const a = c.assignment;
  const vote = c.vote;
  const phase = votingPhase(a, clock.chainTime);
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
  const account = session.get().id;
  if (key.custody !== "device" || !vote.juror || vote.juror.toLowerCase() !== key.address.toLowerCase()) {
    panel.append(
      h(
        "p",
        { id: "vote-needs-key" },
        key.custody !== "device"
          ? "Register your own signing key to vote: only your key can commit and reveal your vote."
          : `Your seat was drawn for key ${vote.juror}, not your registered key: only that key can vote in this round.`,
      ),
    );
    if (key.custody !== "device") jurorKey(ctx.main.appendChild(h("div")), key, () => ctx.go(location.hash, "Your signing key changed."));
    return;
  }
  const withPassphrase = needsPassphrase(account, vote.juror);
  const progress = h("p", { class: "hint", role: "status" });
  const step = (text) => (progress.textContent = text);
  const run = (form, fn) => async (e) => {
    e.preventDefault();
    clear(errors);
    const button = e.submitter || form.querySelector("button[type=submit]");
    if (button) button.disabled = true;
    let signer = null;
    try {
      step("Unlocking your key…");
      signer = await signerFor(account, vote.juror, form["vote-passphrase"] ? form["vote-passphrase"].value : undefined);
      await fn(signer, e.submitter);
    } catch (err) {
      step("");
      showError(errors, err, HINTS);
    } finally {
      if (signer) signer.lock();
      if (form["vote-passphrase"]) form["vote-passphrase"].value = "";
      if (button) button.disabled = false;
    }
  };

  if (vote.commitment) {
    panel.append(
      h("p", {}, "Your vote is committed on chain: only a hash of it, which nobody can open without your key."),
      h("p", { class: "hint" }, "Your key re-derives everything at reveal time: nothing was kept in this browser."),
    );
    if (phase === "commit") {
      panel.append(
        h("p", { class: "hint", id: "reveal-wait" }, `Revealing opens at ${planTime(a.commitEnds, clock)} (chain time), when the commit window ends: come back then.`),
        demoClockButton(ctx, clock, a.commitEnds, `#/jury/${claimPk}`),
      );
    } else if (phase === "closed") {
      panel.append(h("p", { class: "hint", id: "reveal-wait" }, `The reveal window closed at ${planTime(a.revealEnds, clock)} (chain time).`));
    } else {
      panel.append(h("p", { class: "hint" }, `The reveal window is open until ${planTime(a.revealEnds, clock)} (chain time).`));
    }
    const shown = h("p", { id: "my-vote" });
    const buttons = [h("button", { type: "submit", class: phase === "reveal" ? "secondary" : null, id: "show-vote", value: "show" }, "Show my vote (on this device)")];
    if (phase === "reveal") buttons.unshift(h("button", { type: "submit", id: "reveal", value: "reveal" }, "Reveal my vote"));
    const form = h("form", { novalidate: true, id: "reveal-form" }, passphraseField(withPassphrase), h("div", { class: "row" }, buttons), progress, shown);
    form.addEventListener(
      "submit",
      run(form, async (signer, submitter) => {
        if (!submitter || submitter.value !== "reveal") {
          step("Re-deriving your vote on this device…");
          const mine = await myCommittedVote(signer, vote);
          step("");
          shown.textContent = mine === null ? "This key does not open your commitment." : `You committed to ${mine ? "approve" : "reject"}.`;
          return;
        }
        step("Re-deriving your salt and revealing…");
        const out = await revealJuryVote(claimPk, signer, vote);
        clear(panel).append(h("div", { class: "success", role: "status" }, `Revealed: ${out.vote ? "approve" : "reject"}.`));
      }),
    );
    panel.append(form);
    return;
  }
  if (phase !== "commit") {
    panel.append(h("p", { class: "hint", id: "commit-closed" }, `The commit window closed at ${planTime(a.commitEnds, clock)} (chain time): you did not commit a vote in this round.`));
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
    passphraseField(withPassphrase),
    h("p", { class: "hint" }, "Your key signs the vote on this device. Only a hash of it goes on chain now; the secret that opens it is derived from your key and stays here until you reveal."),
    h("button", { type: "submit" }, "Commit my vote"),
    progress,
  );
  form.addEventListener("submit", (e) => {
    const picked = form.querySelector("input[name=vote]:checked");
    if (!picked) {
      e.preventDefault();
      showError(errors, { code: "VALIDATION_ERROR", message: "choose approve or reject" });
      return;
    }
    return run(form, async (signer) => {
      step("Signing on this device…");
      await commitJuryVote(claimPk, signer, vote, picked.value === "approve");
      ctx.go(`#/jury/${claimPk}`, "Vote committed. Come back to reveal it when the commit window ends.");
    })(e);
  });
  panel.append(form);
}
