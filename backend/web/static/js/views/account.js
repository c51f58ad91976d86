// The signed-in person's sessions: every device signed in to this account, each of which can be
// signed out from here (POST /auth/logout ends only this one; see main.js signOut).

import { api } from "../api.js";
import { clear, dataTable, h, loading, showError, success, when } from "../ui.js";

const HINTS = { SESSION_NOT_FOUND: "That session had already ended." };

export async function renderSessions(ctx, { signedOutEverywhere }) {
  ctx.main.append(h("h1", {}, "Your sessions"), loading());
  const sessions = await api("/auth/sessions");
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  const errors = h("div", { "aria-live": "assertive" });
  const rows = sessions.map((s) => {
    const cell = s.current
      ? h("span", { class: "muted" }, "This device")
      : h("button", { type: "button", class: "secondary", "data-session": s.id, onclick: () => end(s) }, "Sign out");
    return { attrs: { "data-current": s.current ? "true" : null }, cells: [s.device, when(s.createdAt), when(s.lastSeenAt), cell] };
  });
  async function end(s) {
    try {
      await api(`/auth/sessions/${s.id}`, { method: "DELETE" });
      ctx.go("#/sessions", `Signed out ${s.device}.`);
    } catch (err) {
      showError(errors, err, HINTS);
    }
  }
  const everywhere = h("button", { type: "button", class: "secondary", id: "signout-everywhere" }, "Sign out everywhere");
  everywhere.addEventListener("click", async () => {
    try {
      await api("/auth/logout-all", { method: "POST" });
      signedOutEverywhere();
    } catch (err) {
      showError(errors, err, HINTS);
    }
  });
  ctx.main.append(
    h("h1", {}, "Your sessions"),
    h("p", { class: "hint" }, "Every device signed in to your account. Signing out one device ends its session at once; the others stay signed in. Only the kind of browser is kept, never your address."),
    errors,
    dataTable("sessions-table", [["Device"], ["Signed in"], ["Last seen"], ["Actions", { hidden: true }]], rows),
    h("p", {}, everywhere),
  );
  if (sessions.length === 1) ctx.main.append(success("No other device is signed in."));
}
