// Auditor pages: the chain history of every claim and period, the apportionment periods with a
// chart, and the audit report.

import { api } from "../api.js";
import { STEP_LABELS, badge, clear, dataTable, fen, fenCompact, h, loading, short, svg, when } from "../ui.js";

async function inBatches(items, size, fn) {
  const out = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

const PAGE = 100;
const MAX_CLAIMS = 2000; // a browser view, not a bulk export: `hubao audit` reads everything

async function allClaims() {
  const claims = [];
  for (let offset = 0; offset < MAX_CLAIMS; offset += PAGE) {
    const page = await api(`/claims?limit=${PAGE}&offset=${offset}`);
    claims.push(...page);
    if (page.length < PAGE) break;
  }
  return claims;
}

export async function renderTimeline(ctx) {
  ctx.main.append(h("h1", {}, "Chain history"), loading("Reading every claim's on-chain steps…"));
  const [claims, periods, batches] = await Promise.all([allClaims(), api("/periods").catch(() => []), api("/anchors?limit=500").catch(() => [])]);
  const timelines = await inBatches(claims, 6, (c) => api(`/claims/${c.id}/timeline`).then((t) => [c, t]));
  if (!ctx.isCurrent()) return;
  const events = [];
  for (const [claim, timeline] of timelines) {
    // The block's time (the chain's clock, as periods' times are), the server's when the node could not say.
    for (const e of timeline) if (e.blockNumber) events.push({ block: e.blockNumber, at: e.chainTime || e.at, kind: e.kind, tx: e.txHash, claim });
  }
  for (const p of periods) events.push({ block: p.blockNumber, at: p.noticeAt, kind: "PeriodPublished", tx: p.txHash, period: p });
  for (const b of batches) events.push({ block: b.blockNumber, at: null, kind: "BatchAnchored", tx: b.txHash || "", batch: b });
  events.sort((x, y) => y.block - x.block || String(y.at).localeCompare(String(x.at)));
  clear(ctx.main);
  const filter = h("input", { id: "history-filter", type: "text", "aria-describedby": "history-filter-hint" });
  const body = h("tbody");
  const count = h("p", { class: "hint", role: "status", id: "history-count" });
  const draw = () => {
    const q = filter.value.trim().toLowerCase();
    const shown = events.filter(
      (e) => !q || [e.kind, e.tx, e.claim?.claimId, e.claim?.id, e.claim?.illnessCode, e.period ? String(e.period.periodId) : "", e.batch ? e.batch.root : ""].some((v) => v && String(v).toLowerCase().includes(q)),
    );
    clear(body).append(
      ...shown.map((e) =>
        h(
          "tr",
          { dataset: { kind: e.kind, claim: e.claim ? e.claim.claimId : "", batch: e.batch ? String(e.batch.batchId) : "" } },
          h("td", { class: "num", "data-label": "Block" }, String(e.block)),
          h("td", { "data-label": "Step" }, h("span", {}, STEP_LABELS[e.kind] || e.kind, h("br"), h("span", { class: "hint" }, when(e.at)))),
          h(
            "td",
            { "data-label": "Subject" },
            e.claim ? h("span", {}, h("a", { href: `#/claims/${e.claim.id}`, class: "mono" }, short(e.claim.claimId, 6)), " ", e.claim.illnessCode, " ", badge(e.claim.status)) : e.batch ? h("span", {}, `evidence batch ${e.batch.batchId} · ${e.batch.leafCount} items · root `, h("span", { class: "mono" }, short(e.batch.root, 6))) : `period ${e.period.periodId}`,
          ),
          h("td", { class: "mono", "data-label": "Transaction" }, short(e.tx, 8)),
        ),
      ),
    );
    count.textContent = `${shown.length} of ${events.length} on-chain steps`;
  };
  filter.addEventListener("input", draw);
  ctx.main.append(
    h("h1", {}, "Chain history"),
    h("div", { class: "field" }, h("label", { for: "history-filter" }, "Find a claim, step or transaction"), filter, h("span", { class: "hint", id: "history-filter-hint" }, "Claim id, illness code, step name, period, batch root or transaction hash.")),
    count,
    h("div", { class: "table-wrap" }, h("table", { id: "history-table", class: "stack" }, h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Block"), h("th", {}, "Step"), h("th", {}, "Subject"), h("th", {}, "Transaction"))), body)),
  );
  draw();
}

/** An axis top in fen: four equal steps of 1, 2 or 5 × 10^k fen, at least ¥1.00 (so an all-zero
 * chart reads ¥0.00, ¥0.25 … ¥1.00, never the same rounded label twice). */
function axisMax(value) {
  const quarter = Math.max(25, value / 4);
  const scale = 10 ** Math.floor(Math.log10(quarter));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * scale).find((s) => s >= quarter);
  return step * 4;
}

function chart(periods) {
  const W = 640;
  const H = 260;
  const pad = { l: 64, r: 64, t: 16, b: 40 };
  const iw = W - pad.l - pad.r;
  const ih = H - pad.t - pad.b;
  const maxDue = axisMax(Math.max(...periods.map((p) => p.payoutsFen + p.feeFen)));
  const maxBase = axisMax(Math.max(...periods.map((p) => p.baseFen)));
  const maxMembers = Math.max(1, ...periods.map((p) => p.memberCount));
  const step = iw / periods.length;
  const barW = Math.max(4, Math.min(48, step * 0.6));
  const x = (i) => pad.l + step * i + step / 2;
  const yDue = (v) => pad.t + ih - (v / maxDue) * ih;
  const yBase = (v) => pad.t + ih - (v / maxBase) * ih;
  const yMembers = (v) => pad.t + ih - (v / maxMembers) * ih;
  const parts = [];
  for (let k = 0; k <= 4; k++) {
    const y = pad.t + (ih * k) / 4;
    parts.push(svg("line", { class: "grid-line", x1: pad.l, x2: W - pad.r, y1: y, y2: y }));
    parts.push(svg("text", { x: pad.l - 6, y: y + 4, "text-anchor": "end", class: "tick-due" }, fenCompact((maxDue * (4 - k)) / 4)));
    parts.push(svg("text", { x: W - pad.r + 6, y: y + 4, class: "tick-base" }, fenCompact((maxBase * (4 - k)) / 4)));
  }
  periods.forEach((p, i) => {
    const top = yDue(p.payoutsFen + p.feeFen);
    parts.push(svg("rect", { class: "bar-payouts", x: x(i) - barW / 2, y: yDue(p.payoutsFen), width: barW, height: pad.t + ih - yDue(p.payoutsFen) }, svg("title", {}, `${p.periodId}: payouts ${fen(p.payoutsFen)}`)));
    parts.push(svg("rect", { class: "bar-fee", x: x(i) - barW / 2, y: top, width: barW, height: yDue(p.payoutsFen) - top }, svg("title", {}, `${p.periodId}: fee ${fen(p.feeFen)}`)));
    const every = Math.ceil(periods.length / 8); // at most eight period labels on the axis
    if (i % every === 0) parts.push(svg("text", { x: x(i), y: H - pad.b + 16, "text-anchor": "middle" }, String(p.periodId)));
  });
  const line = (fn, cls) => svg("polyline", { class: cls, points: periods.map((p, i) => `${x(i)},${fn(p)}`).join(" ") });
  parts.push(line((p) => yMembers(p.memberCount), "line-members"));
  parts.push(line((p) => yBase(p.baseFen), "line-base"));
  periods.forEach((p, i) => parts.push(svg("circle", { class: "dot-base", cx: x(i), cy: yBase(p.baseFen), r: 3.5 }, svg("title", {}, `${p.periodId}: ${fen(p.baseFen)} per member, ${p.memberCount} members`))));
  parts.push(svg("line", { class: "axis", x1: pad.l, x2: W - pad.r, y1: pad.t + ih, y2: pad.t + ih }));
  const summary = periods.map((p) => `${p.periodId}: payouts ${fen(p.payoutsFen)}, fee ${fen(p.feeFen)}, ${p.memberCount} members, ${fen(p.baseFen)} each`).join("; ");
  return svg(
    "svg",
    { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title chart-desc", id: "periods-chart" },
    svg("title", { id: "chart-title" }, "Payouts, fee and share per member by period"),
    svg("desc", { id: "chart-desc" }, summary),
    ...parts,
  );
}

export async function renderPeriods(ctx) {
  ctx.main.append(h("h1", {}, "Apportionment periods"), loading());
  const periods = await api("/periods");
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(h("h1", {}, "Apportionment periods"), h("p", { class: "hint" }, "As recorded on chain by the Apportionment contract: each period's approved payouts, the operator's fee, the members who share them and what each pays."));
  if (!periods.length) {
    ctx.main.append(h("p", { class: "muted" }, "No period has been published yet."));
    return;
  }
  ctx.main.append(
    h(
      "ul",
      { class: "legend", "aria-hidden": "true" },
      h("li", {}, h("span", { class: "swatch payouts" }), "Payouts (left axis)"),
      h("li", {}, h("span", { class: "swatch fee" }), "Fee (left axis)"),
      h("li", {}, h("span", { class: "swatch base" }), "Share per member (right axis)"),
      h("li", {}, h("span", { class: "swatch members" }), "Members (scaled)"),
    ),
    chart(periods),
    dataTable(
      "periods-table",
      [["Period"], ["Claims", { num: true }], ["Payouts", { num: true }], ["Fee", { num: true }], ["Members", { num: true }], ["Per member", { num: true }], ["Ledger root · block"]],
      periods.map((p) => [
        `${p.periodId}${p.windDown ? " (wind-down)" : ""}`,
        String(p.claimCount),
        fen(p.payoutsFen),
        fen(p.feeFen),
        String(p.memberCount),
        fen(p.baseFen),
        h("span", { class: "mono" }, `${short(p.ledgerRoot, 8)} · ${p.blockNumber}`),
      ]),
    ),
  );
}

export function renderAuditReport(ctx) {
  const out = h("section", { id: "audit-output", "aria-live": "polite" });
  const run = h("button", { type: "button", id: "run-audit" }, "Run the audit");
  run.addEventListener("click", async () => {
    run.disabled = true;
    clear(out).append(loading("Re-deriving the notarized history from the chain and the evidence store…"));
    try {
      const report = await api("/audit");
      clear(out).append(auditReport(report));
    } catch (err) {
      clear(out).append(h("div", { class: "error", role: "alert" }, `${err.message} (${err.code})`));
    } finally {
      run.disabled = false;
    }
  });
  ctx.main.append(
    h("h1", {}, "Audit"),
    h("p", { class: "hint" }, "The audit re-reads every anchor, claim and period from the chain, re-derives them from the evidence store and the database, and names every mismatch. The same report comes from `hubao audit --json` run anywhere with access to the chain."),
    run,
    out,
  );
}

function auditReport(report) {
  const subject = report.subject || {};
  return h(
    "div",
    {},
    h("div", { class: report.ok ? "success" : "error", role: "status", id: "audit-verdict" }, h("strong", {}, report.ok ? "✓ The audit passed" : "✗ The audit found problems"), ` · ${report.findingCount} finding(s)`, report.complete ? " · every step ran" : ""),
    h("p", { class: "hint mono" }, Object.entries(subject).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · ")),
    h(
      "ol",
      { class: "grid", id: "audit-steps" },
      report.steps.map((s) =>
        h(
          "li",
          { class: "card", dataset: { step: s.name, status: s.status } },
          h("h3", {}, badge(s.status === "passed" ? "pass" : s.status === "failed" ? "fail" : s.status), " ", s.title),
          s.detail ? h("p", { class: "hint" }, s.detail) : null,
          Object.keys(s.checked || {}).length ? h("p", { class: "hint mono" }, Object.entries(s.checked).map(([k, v]) => `${k}: ${v}`).join(" · ")) : null,
          s.findings.length
            ? h("details", {}, h("summary", {}, `${s.findingCount} finding(s)`), s.findings.map((f) => h("div", { class: "finding mono" }, JSON.stringify(f))))
            : null,
        ),
      ),
    ),
  );
}
