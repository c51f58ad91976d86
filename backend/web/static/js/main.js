// The single page: a hash router, the navigation of the signed-in role, and focus management.

import { api, keepSessionFresh, onUnauthorized, session } from "./api.js";
import { clear, errorBox, h, planTimeZone, setPlanTimeZone } from "./ui.js";
import { renderSessions } from "./views/account.js";
import { renderRegister, renderSignIn } from "./views/auth.js";
import { renderAuditReport, renderPeriods, renderTimeline } from "./views/audit.js";
import { renderCase, renderJury } from "./views/jury.js";
import { renderClaim, renderFile, renderJoin, renderMember, renderShares } from "./views/member.js";
import { renderNotice } from "./views/notice.js";
import { renderQueue, renderReview } from "./views/review.js";

const NAV = {
  member: [["#/member", "My claims"], ["#/file", "File a claim"], ["#/shares", "My shares"], ["#/notice", "Public notice"]],
  reviewer: [["#/review", "Review queue"]],
  juror: [["#/jury", "Jury"]],
  auditor: [["#/audit/timeline", "Chain history"], ["#/audit/periods", "Periods"], ["#/audit/report", "Audit"]],
  operator: [["#/audit/timeline", "Chain history"], ["#/audit/periods", "Periods"]],
};
const HOME = { member: "#/member", reviewer: "#/review", juror: "#/jury", auditor: "#/audit/timeline", operator: "#/audit/timeline" };

const ROUTES = [
  [/^#\/signin$/, null, renderSignIn],
  [/^#\/register$/, null, renderRegister],
  [/^#\/member$/, ["member"], renderMember],
  [/^#\/join$/, ["member"], renderJoin],
  [/^#\/file$/, ["member"], renderFile],
  [/^#\/claims\/([0-9a-zA-Z_-]+)$/, ["member", "auditor", "operator"], renderClaim],
  [/^#\/shares$/, ["member"], renderShares],
  [/^#\/notice$/, ["member", "operator", "auditor"], renderNotice], // as GET /notice admits
  [/^#\/review$/, ["reviewer"], renderQueue],
  [/^#\/review\/([0-9a-zA-Z_-]+)$/, ["reviewer"], renderReview],
  [/^#\/jury$/, ["juror"], renderJury],
  [/^#\/jury\/([0-9a-zA-Z_-]+)$/, ["juror"], renderCase],
  [/^#\/audit\/timeline$/, ["auditor", "operator"], renderTimeline],
  [/^#\/audit\/periods$/, ["auditor", "operator"], renderPeriods],
  [/^#\/audit\/report$/, ["auditor"], renderAuditReport],
  [/^#\/sessions$/, ["member", "reviewer", "juror", "auditor", "operator"], (ctx) => renderSessions(ctx, { signedOutEverywhere })],
];

const main = document.getElementById("main");
const status = document.getElementById("status");

let flash = null;

/** Navigate; `message` is announced on the next page (the status line is per page otherwise). */
export function go(hash, message = null) {
  flash = message;
  if (location.hash === hash) route();
  else location.hash = hash;
}

function renderNav() {
  const nav = clear(document.getElementById("nav"));
  const who = clear(document.getElementById("who"));
  const s = session.get();
  if (!s) return;
  const here = location.hash.split("/").slice(0, 2).join("/");
  nav.append(
    h(
      "ul",
      {},
      (NAV[s.role] || []).map(([href, label]) =>
        h("li", {}, h("a", { href, "aria-current": href === location.hash || href === here ? "page" : null }, label)),
      ),
    ),
  );
  who.append(
    h("span", {}, h("span", { class: "visually-hidden" }, "Signed in as "), `${s.username} (${s.role})`),
    h("a", { href: "#/sessions", id: "sessions-link", "aria-current": location.hash === "#/sessions" ? "page" : null }, "Your sessions"),
    h("button", { type: "button", class: "secondary", id: "signout", onclick: signOut }, "Sign out"),
  );
}

// What the browser keeps about the signed-in person beyond the tab's token: gone at sign-out.
const PERSONAL_KEYS = ["hubao.jury.commits"];

async function signOut() {
  // The server ends this device's session (POST /auth/logout), so a copy of its token left anywhere
  // stops working; the account's other devices stay signed in ("Your sessions" ends those).
  await api("/auth/logout", { method: "POST" }).catch(() => null);
  forget("You are signed out.");
}

function signedOutEverywhere() {
  forget("You are signed out on every device.");
}

function forget(message) {
  session.clear();
  for (const key of PERSONAL_KEYS) localStorage.removeItem(key);
  go("#/signin", message);
}

onUnauthorized(() => {
  if (!session.get()) return;
  session.clear();
  go("#/signin", "Your session ended: please sign in again.");
});

let generation = 0;

export async function route() {
  const mine = ++generation;
  status.textContent = flash || "";
  flash = null;
  const s = session.get();
  let hash = location.hash || "#/";
  if (hash === "#/" || hash === "#") {
    location.replace(s ? HOME[s.role] || "#/signin" : "#/signin");
    return;
  }
  const found = ROUTES.map(([re, roles, render]) => [hash.match(re), roles, render]).find(([m]) => m);
  renderNav();
  clear(main);
  if (!found) {
    main.append(h("h1", {}, "Page not found"), h("p", {}, h("a", { href: "#/" }, "Go to your start page")));
    main.focus();
    return;
  }
  const [match, roles, render] = found;
  if (roles && !s) {
    flash = "Please sign in first.";
    location.replace("#/signin");
    return;
  }
  if (roles && !roles.includes(s.role)) {
    main.append(h("h1", {}, "Not available for your role"), h("p", {}, `Signed in as ${s.role}. `, h("a", { href: HOME[s.role] || "#/" }, "Go to your start page")));
    main.focus();
    return;
  }
  if (s && !planTimeZone()) {
    // Every date is shown in the plan's time zone (ui.js when/planDay): learn it before the first
    // signed-in page. Without the chain's answer, dates stay in UTC, named so.
    await api("/chain/time").then((clock) => setPlanTimeZone(clock.planTimeZone), () => null);
    if (mine !== generation) return;
  }
  const ctx = { main, session: s, go, isCurrent: () => mine === generation, say: (text) => (status.textContent = text) };
  try {
    await render(ctx, ...match.slice(1));
  } catch (err) {
    if (mine !== generation) return;
    clear(main);
    main.append(h("h1", {}, err && err.status === 404 ? "Not found" : "Something went wrong"), errorBox(err));
  }
  if (mine !== generation) return;
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} · Hubao` : "Hubao";
}

window.addEventListener("hashchange", () => {
  route().then(() => main.focus({ preventScroll: false }));
});

document.getElementById("skip").addEventListener("click", (e) => {
  e.preventDefault();
  main.focus();
});

if (session.get()) {
  keepSessionFresh();
  // A stale token sends the user back to sign in (onUnauthorized, which routes there with its
  // message) instead of failing page by page; routing here too would wipe that message.
  api("/auth/me").then(route, () => (session.get() ? route() : null));
} else {
  route();
}
