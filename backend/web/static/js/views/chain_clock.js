// The chain's clock on the jury pages: which voting window is open (judged in block time, as the
// contract does), the windows' times, and — on the local development chain only — a demo button
// that moves the chain's clock forward (POST /chain/advance: anvil evm_increaseTime + a block).

import { api } from "../api.js";
import { h, inZone, showError } from "../ui.js";

/** "commit" before commitEnds, "reveal" until revealEnds, then "closed" (chain seconds). */
export function votingPhase(assignment, chainTime) {
  if (chainTime < assignment.commitEnds) return "commit";
  if (chainTime < assignment.revealEnds) return "reveal";
  return "closed";
}

/** The facts rows for a round's windows and the chain's clock now, in the plan's time zone. */
export function windowFacts(assignment, clock) {
  const phase = votingPhase(assignment, clock.chainTime);
  const open = { commit: "commit window open", reveal: "reveal window open", closed: "voting closed" }[phase];
  const at = (t) => inZone(t, clock.planTimeZone);
  return [
    ["Commit window", `until ${at(assignment.commitEnds)}`],
    ["Reveal window", `${at(assignment.commitEnds)} to ${at(assignment.revealEnds)}`],
    ["Chain time now", `${at(clock.chainTime)} (${open})`],
  ];
}

/** An instant in the plan's time zone (for the jury page's sentences). */
export function planTime(value, clock) {
  return inZone(value, clock.planTimeZone);
}

/** Demo only: a button moving the chain's clock just past `until`, then showing `hash` again. */
export function demoClockButton(ctx, clock, until, hash) {
  if (!clock.canAdvance) return null;
  const errors = h("div", { "aria-live": "assertive" });
  const button = h("button", { type: "button", class: "secondary", id: "advance-clock" }, "Demo: move the chain's clock to the reveal window");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const seconds = Math.max(1, until - clock.chainTime + 1);
      await api("/chain/advance", { method: "POST", json: { seconds } });
      ctx.go(hash, `Demo: the chain's clock moved ${Math.round(seconds / 60)} minutes forward.`);
    } catch (err) {
      showError(errors, err);
      button.disabled = false;
    }
  });
  return h("div", { class: "demo-clock" }, errors, h("p", { class: "hint" }, "This is the local demo chain: you can move its clock instead of waiting."), button);
}
