// DOM helpers: elements built with createElement only (never parsed from strings; nothing inline, for the CSP).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "value") el.value = v;
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

const SVG_NS = "http://www.w3.org/2000/svg";
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/** The API's {code, message} as a readable alert; `hints` may map a code to a plain explanation. */
export function errorBox(err, hints = {}) {
  const code = err && err.code ? err.code : "ERROR";
  const message = err && err.message ? err.message : "something went wrong";
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", {}, hints[code] || "That did not work."),
    " ",
    h("span", {}, message),
    " ",
    h("span", { class: "code" }, `(${code})`),
  );
}

export function success(text) {
  return h("div", { class: "success", role: "status" }, text);
}

/** Show an error (or clear it) in a slot element and move focus there so screen readers hear it. */
export function showError(slot, err, hints) {
  clear(slot);
  if (err) {
    const box = errorBox(err, hints);
    box.tabIndex = -1;
    slot.append(box);
    box.focus();
  }
}

export function fen(amount) {
  const n = Number(amount);
  const yuan = Math.trunc(n / 100);
  const rest = Math.abs(n % 100);
  return `¥${yuan.toLocaleString("en-US")}.${String(rest).padStart(2, "0")}`;
}

let planZone = null;

/**
 * The plan's time zone (GET /chain/time planTimeZone, an IANA name), set once signed in: from then
 * on when() and planDay() show every instant in it, as deadlines and the debit day are shown.
 */
export function setPlanTimeZone(zone) {
  planZone = zone || null;
}

export function planTimeZone() {
  return planZone;
}

/** An instant (ISO text or unix seconds) in the plan's time zone, zone named; in UTC until it is known. */
export function when(value) {
  if (value === null || value === undefined) return "—";
  return planZone ? inZone(value, planZone) : utc(value);
}

function utc(value) {
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC").replace(/Z$/, " UTC");
}

/**
 * The calendar day of an instant in the plan's time zone, the offset named as zonedDay() names it:
 * "2026-12-14 (UTC+08:00)" (the UTC day, "(UTC)", until the zone is known).
 */
export function planDay(value) {
  if (value === null || value === undefined) return "—";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  if (!planZone) return `${d.toISOString().slice(0, 10)} (UTC)`;
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone: planZone, year: "numeric", month: "2-digit", day: "2-digit", timeZoneName: "longOffset" })
      .formatToParts(d)
      .map((p) => [p.type, p.value]),
  );
  const offset = parts.timeZoneName.replace(/^GMT/, "");
  return `${parts.year}-${parts.month}-${parts.day} (UTC${offset})`;
}

/**
 * The calendar day of an ISO instant in the time zone the API wrote it in, with that zone named:
 * "2026-12-14T00:00:00+08:00" → "2026-12-14 (UTC+08:00)". Dates of money and deadlines are the
 * plan's (Asia/Shanghai): converting them to UTC or to the browser's zone would move the day.
 */
export function zonedDay(value) {
  const m = /^(\d{4}-\d{2}-\d{2})T[\d:.]+(Z|[+-]\d{2}:\d{2})$/.exec(String(value || ""));
  if (!m) return when(value);
  return `${m[1]} (UTC${m[2] === "Z" ? "" : m[2]})`;
}

/**
 * An instant (ISO text or unix seconds) in the plan's time zone, the zone named:
 * "2026-12-14 00:00 Asia/Shanghai (GMT+08:00)". Falls back to UTC without a zone.
 */
export function inZone(value, zone) {
  if (value === null || value === undefined) return "—";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (!zone || Number.isNaN(d.getTime())) return utc(value);
  try {
    const parts = Object.fromEntries(
      new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "longOffset" })
        .formatToParts(d)
        .map((p) => [p.type, p.value]),
    );
    return `${parts.year}-${parts.month}-${parts.day} ${parts.hour}:${parts.minute} ${zone} (${parts.timeZoneName})`;
  } catch {
    return utc(value);
  }
}

const ROLE_NAMES = { REVIEWER_ROLE: ["reviewer", "give verdicts"], JUROR_ROLE: ["juror", "vote"] };

/**
 * Where a signer's roster role stands on chain (the API's onChainRole), as one sentence; times in
 * the plan's time zone. Roster changes wait out the RosterTimelock's public delay: "pending" until
 * changeAt, "revoking" (still in force) until changeAt. Null when there is nothing to say.
 */
export function roleStandingText(onChainRole, zone) {
  if (!onChainRole) return null;
  const [name, act] = ROLE_NAMES[onChainRole.role] || [onChainRole.role, "sign"];
  const at = inZone(onChainRole.changeAt, zone);
  switch (onChainRole.status) {
    case "held":
      return `Your ${name} role is in force on chain.`;
    case "pending":
      return `Your ${name} role is announced on chain and takes effect at ${at}: roster changes wait out a public delay, so you cannot ${act} until then.`;
    case "revoking":
      return `Your ${name} role is being revoked on chain: it ends at ${at}.`;
    case "none":
      return `Your registered key holds no ${name} role on chain.`;
    default:
      return `The chain cannot be read right now: where your ${name} role stands is unknown.`;
  }
}

export function short(hex, keep = 10) {
  if (!hex) return "—";
  return hex.length > keep * 2 + 2 ? `${hex.slice(0, keep + 2)}…${hex.slice(-keep + 2)}` : hex;
}

export function badge(text) {
  return h("span", { class: `badge ${text}` }, text.replaceAll("_", " "));
}

export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.filter(Boolean).map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]));
}

export function loading(text = "Loading…") {
  return h("p", { class: "muted", role: "status" }, text);
}

/** Save bytes or text as a download (object URL, revoked after the click). */
export function download(name, data, type = "application/json") {
  const url = URL.createObjectURL(data instanceof Blob ? data : new Blob([data], { type }));
  const a = h("a", { href: url, download: name, class: "visually-hidden" }, name);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The result of a receipt verification as a list of ✓/✗ steps. */
export function stepList(result, label) {
  return h(
    "div",
    { class: result.ok ? "success" : "error", role: "status", "data-verified": result.ok ? "true" : "false" },
    h("strong", {}, result.ok ? `✓ ${label}: verified` : `✗ ${label}: verification failed at step ${result.failedStep}`),
    h(
      "ul",
      { class: "checks" },
      result.steps.map((s) =>
        h(
          "li",
          {},
          h("span", { class: `mark ${s.status}`, "aria-hidden": "true" }, s.status === "pass" ? "✓" : "✗"),
          h("span", {}, h("span", { class: "visually-hidden" }, s.status === "pass" ? "passed: " : "failed: "), `${s.step}. ${s.title}`, s.detail ? h("br") : null, s.detail ? h("span", { class: "hint mono" }, s.detail) : null),
        ),
      ),
    ),
  );
}

export const STEP_LABELS = {
  submitted: "Submitted",
  ClaimFiled: "Claim filed on chain",
  reviewers_assigned: "Reviewers assigned",
  reviewers_short: "Waiting for enough reviewers",
  flagged: "Flagged for the reviewers",
  rejected_by_rules: "Rejected by the plan's rules",
  membership_ended: "Membership ended",
  ReviewOpened: "Review opened on chain",
  verdict_drafted: "A reviewer's verdict drafted, to sign on their device",
  verdict_signed: "A reviewer signed a verdict",
  VerdictRecorded: "Reviewer verdict recorded",
  ReviewDecided: "Review decided",
  NoticeFinalized: "Notice passed: approved",
  ObjectionRecorded: "Objection recorded",
  JuryDrawn: "Jury drawn",
  jury_short: "Waiting for enough jurors",
  JuryRoundVoided: "Jury round voided",
  VoteCommitted: "Juror vote committed",
  VoteRevealed: "Juror vote revealed",
  JuryTallied: "Jury tallied",
  PayoutRecorded: "Payout recorded",
  ClaimAppealed: "Appealed",
  ClaimWithdrawn: "Withdrawn",
  shares_refund_due: "Share refund due",
  PeriodPublished: "Apportionment period published",
  BatchAnchored: "Evidence batch anchored",
};

/**
 * A table that becomes one card per row on a phone (CSS: table.stack). `columns` are
 * [label, {num, hidden}] pairs; each row is an array of cells, or {attrs, cells}.
 */
export function dataTable(id, columns, rows) {
  const head = h("thead", {}, h("tr", {}, columns.map(([label, o = {}]) => h("th", { class: o.num ? "num" : null, scope: "col" }, o.hidden ? h("span", { class: "visually-hidden" }, label) : label))));
  const body = h(
    "tbody",
    {},
    rows.map((row) => {
      const { attrs = {}, cells } = Array.isArray(row) ? { cells: row } : row;
      return h("tr", attrs, cells.map((cell, i) => h("td", { class: columns[i][1]?.num ? "num" : null, "data-label": columns[i][1]?.hidden ? null : columns[i][0] }, h("span", {}, cell))));
    }),
  );
  return h("div", { class: "table-wrap" }, h("table", { id, class: "stack" }, head, body));
}

/** Compact yuan for chart axes: ¥1.2M, ¥324k, ¥0.10. */
export function fenCompact(amount) {
  const yuan = Number(amount) / 100;
  if (yuan >= 1e6) return `¥${(yuan / 1e6).toFixed(yuan >= 1e7 ? 0 : 1)}M`;
  if (yuan >= 1e4) return `¥${Math.round(yuan / 1e3)}k`;
  if (yuan >= 100) return `¥${Math.round(yuan)}`;
  return `¥${yuan.toFixed(2)}`;
}

/** Fetch a decrypted document (authenticated) and show it inline from a blob: URL (PDF or image). */
export async function showDocument(slot, response, mediaType, label) {
  const blob = new Blob([await response.arrayBuffer()], { type: mediaType });
  const url = URL.createObjectURL(blob);
  clear(slot);
  if (mediaType === "application/pdf") {
    slot.append(
      h("iframe", { src: url, class: "doc-frame", title: `${label} (PDF)` }),
      h("p", { class: "hint" }, "PDF not shown? ", h("a", { href: url, download: `${label}.pdf` }, "Download it")),
    );
  } else {
    slot.append(h("img", { src: url, class: "doc-image", alt: `${label} (${mediaType})` }));
  }
}
