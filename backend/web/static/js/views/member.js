// Claimant pages: membership and joining, filing with upload progress, a claim's timeline and
// receipts, shares per period with in-browser verification.

import { api, newIdempotencyKey, upload } from "../api.js";
import { createClaimKey, exportClaimKey, hasClaimKey, signClaimAction } from "../device/claim_keys.js";
import { verifyEvidenceReceipt, verifyShareReceipt } from "../proofs.js";
import { STEP_LABELS, badge, clear, dataTable, download, facts, fen, h, loading, planDay, short, showDocument, showError, stepList, when, zonedDay } from "../ui.js";

const JOIN_HINTS = {
  NOT_ELIGIBLE_AGE: "Not eligible: age.",
  NOT_ELIGIBLE_CREDIT: "Not eligible: credit score.",
  NOT_ELIGIBLE_HEALTH: "Not eligible: health declaration.",
  HEALTH_ANSWERS_MISMATCH: "Please answer every health question.",
  ALREADY_A_MEMBER: "You are already a member.",
  MEMBERSHIP_ENDED: "Your membership has ended.",
  VALIDATION_ERROR: "Please check the form.",
};
const FILE_HINTS = {
  MEMBERSHIP_NOT_ACTIVE: "Your membership is not active.",
  EVIDENCE_REQUIRED: "Add at least one document.",
  MISSING_FIELD: "Please fill in every field.",
  PAYLOAD_TOO_LARGE: "A file is too large.",
  UNSUPPORTED_MEDIA_TYPE: "Only PDF, PNG and JPEG files are accepted.",
  EMPTY_FILE: "A file is empty.",
  TOO_MANY_FILES: "Too many files.",
  WAITING_PERIOD_NOT_ACKNOWLEDGED: "Your diagnosis falls inside your waiting period.",
  VALIDATION_ERROR: "Please check the form.",
  WRONG_PASSPHRASE: "Choose a passphrase of at least 8 characters for this claim's key.",
  PASSPHRASE_MISMATCH: "The two passphrases differ.",
  NO_WEBCRYPTO: "Open the site over HTTPS to make this claim's key in your browser.",
};

/** A byte count as a person reads it (20 MiB). */
function sizeText(bytes) {
  for (const [unit, scale] of [["GiB", 2 ** 30], ["MiB", 2 ** 20], ["KiB", 2 ** 10]]) {
    if (bytes >= scale) {
      const v = bytes / scale;
      return `${Number.isInteger(v) ? v : v.toFixed(1)} ${unit}`;
    }
  }
  return `${bytes} bytes`;
}
const ACCEPTED = ["application/pdf", "image/png", "image/jpeg"];

async function membership() {
  try {
    return await api("/members/me");
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

export async function renderMember(ctx) {
  ctx.main.append(h("h1", {}, "My claims"), loading());
  const [member, claims] = await Promise.all([membership(), api("/claims?limit=100")]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(h("h1", {}, "My claims"));
  if (!member) {
    ctx.main.append(h("div", { class: "card" }, h("p", {}, "You are not a member of the plan yet."), h("a", { class: "button", href: "#/join" }, "Join the plan")));
    return;
  }
  ctx.main.append(
    h(
      "section",
      { class: "card", "aria-labelledby": "membership-h" },
      h("h2", { id: "membership-h" }, "Membership"),
      facts([
        ["Status", badge(member.status.toUpperCase())],
        ["Joined", when(member.joinedAt)],
        ["Waiting period ends", when(member.waitingEndsAt)],
        ["On-chain identity", h("span", { class: "mono" }, short(member.commitment))],
      ]),
    ),
    h("p", {}, h("a", { class: "button", href: "#/file" }, "File a claim")),
  );
  if (!claims.length) {
    ctx.main.append(h("p", { class: "muted" }, "You have not filed a claim."));
    return;
  }
  ctx.main.append(
    h("h2", {}, "Claims"),
    dataTable(
      "claims-table",
      [["Filed"], ["Illness"], ["Status"], ["Payout", { num: true }]],
      claims.map((c) => [h("a", { href: `#/claims/${c.id}` }, planDay(c.filedAt)), c.illnessCode, badge(c.status), fen(c.payoutFen)]),
    ),
  );
}

export async function renderJoin(ctx) {
  ctx.main.append(h("h1", {}, "Join the plan"), loading());
  const [rules, member] = await Promise.all([api("/rules/current"), membership()]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(h("h1", {}, "Join the plan"));
  if (member) {
    ctx.main.append(h("div", { class: "success" }, `You are a member (${member.status}).`), h("a", { href: "#/member" }, "Go to my claims"));
    return;
  }
  const r = rules.rules; // the rule set as hashed: its keys are the protocol's (snake_case)
  const errors = h("div", { "aria-live": "assertive" });
  const questions = (r.health_questions || []).map((q, i) =>
    h(
      "fieldset",
      {},
      h("legend", {}, `${i + 1}. ${q}`),
      h(
        "div",
        { class: "choice" },
        h("label", {}, h("input", { type: "radio", name: `q${i}`, value: "yes", required: true }), "Yes"),
        h("label", {}, h("input", { type: "radio", name: `q${i}`, value: "no", required: true }), "No"),
      ),
    ),
  );
  const form = h(
    "form",
    { class: "card", id: "join-form", novalidate: true },
    errors,
    h("p", { class: "hint" }, `Rule set version ${rules.version}: members are admitted from ${Math.ceil((r.min_age_days || 0) / 365)} to ${r.max_join_age_years} years of age with a credit score of at least ${r.min_credit_score}; claims are covered after a ${r.waiting_period_days}-day waiting period.`),
    h("div", { class: "field" }, h("label", { for: "birth" }, "Date of birth"), h("input", { id: "birth", name: "birth", type: "date", required: true })),
    h("div", { class: "field" }, h("label", { for: "credit" }, "Credit score"), h("input", { id: "credit", name: "credit", type: "number", min: 0, max: 1000, inputmode: "numeric", required: true, "aria-describedby": "credit-hint" }), h("span", { class: "hint", id: "credit-hint" }, "0 to 1000, as your credit service reports it.")),
    h("h2", {}, "Health declaration"),
    questions,
    h("button", { type: "submit" }, "Join"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const answers = (r.health_questions || []).map((_, i) => {
      const picked = form.querySelector(`input[name="q${i}"]:checked`);
      return picked ? picked.value === "yes" : null;
    });
    const missing = [];
    if (!form.birth.value) missing.push("date of birth");
    if (form.credit.value === "") missing.push("credit score");
    if (answers.includes(null)) missing.push("every health question");
    if (missing.length) {
      showError(errors, { code: "VALIDATION_ERROR", message: `please fill in ${missing.join(", ")}` }, JOIN_HINTS);
      return;
    }
    try {
      const joined = await api("/members/join", { method: "POST", json: { birthDate: form.birth.value, creditScore: Number(form.credit.value), healthAnswers: answers } });
      ctx.go("#/member", `Welcome to the plan. Your waiting period ends ${when(joined.waitingEndsAt)}.`);
    } catch (err) {
      showError(errors, err, JOIN_HINTS);
    }
  });
  ctx.main.append(form);
}

export async function renderFile(ctx) {
  ctx.main.append(h("h1", {}, "File a claim"), loading());
  const [catalog, member, clock] = await Promise.all([api("/rules/illnesses"), membership(), api("/chain/time").catch(() => null)]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  const maxBytes = catalog.uploadMaxBytes || null;
  const maxFiles = catalog.maxFilesPerClaim || null;
  // The day the waiting period ends (UTC, as the API decides it): a diagnosis before it is not covered.
  const waitingEnds = member && member.waitingEndsAt ? new Date(member.waitingEndsAt).toISOString().slice(0, 10) : null;
  // One key per claim being filed: a retry after a lost answer gets the same claim back.
  let filingKey = newIdempotencyKey();
  const errors = h("div", { "aria-live": "assertive" });
  const files = [];
  const list = h("ul", { class: "files", id: "file-list", "aria-live": "polite" });
  const progress = h("progress", { id: "upload-progress", max: 100, value: 0, "aria-label": "Upload progress", hidden: true });
  const progressText = h("span", { class: "hint", id: "upload-progress-text", "aria-live": "polite" });
  const picker = h("input", { type: "file", id: "files", name: "files", multiple: true, accept: ".pdf,.png,.jpg,.jpeg,application/pdf,image/png,image/jpeg", class: "visually-hidden" });

  function showFiles() {
    clear(list);
    files.forEach((f, i) =>
      list.append(h("li", {}, `${f.name} (${Math.ceil(f.size / 1024)} KB) `, h("button", { type: "button", class: "secondary", "aria-label": `Remove ${f.name}`, onclick: () => { files.splice(i, 1); showFiles(); } }, "Remove"))),
    );
  }
  function addFiles(incoming) {
    for (const f of incoming) {
      if (f.size === 0) {
        showError(errors, { code: "EMPTY_FILE", message: `${f.name} is empty (0 bytes): choose the document again` }, FILE_HINTS);
        continue;
      }
      if (f.type && !ACCEPTED.includes(f.type)) {
        showError(errors, { code: "UNSUPPORTED_MEDIA_TYPE", message: `${f.name} is not a PDF, PNG or JPEG file` }, FILE_HINTS);
        continue;
      }
      if (maxBytes && f.size > maxBytes) {
        showError(errors, { code: "PAYLOAD_TOO_LARGE", message: `${f.name} is ${sizeText(f.size)}; each file may be at most ${sizeText(maxBytes)}` }, FILE_HINTS);
        continue;
      }
      if (maxFiles && files.length >= maxFiles) {
        showError(errors, { code: "TOO_MANY_FILES", message: `at most ${maxFiles} files per claim; ${f.name} was not added` }, FILE_HINTS);
        continue;
      }
      files.push(f);
    }
    showFiles();
  }
  picker.addEventListener("change", () => {
    addFiles(picker.files);
    picker.value = "";
  });
  const drop = h(
    "div",
    { class: "drop", id: "drop-zone" },
    h("p", {}, `Drag and drop your medical documents here (PDF, PNG or JPEG${maxBytes ? `, up to ${sizeText(maxBytes)} each` : ""})`),
    h("span", { class: "hint" }, "or "),
    picker,
    h("label", { for: "files", class: "button secondary", id: "choose-files" }, "Choose files"),
  );
  for (const type of ["dragenter", "dragover"]) drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  for (const type of ["dragleave", "drop"]) drop.addEventListener(type, () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files) addFiles(e.dataTransfer.files);
  });

  // The plan's today, as the API judges a diagnosis date: the later of this device's clock and the
  // chain's (a demo chain moved ahead; joins and the waiting period are stamped on it).
  const now = Math.max(Date.now(), clock ? clock.chainTime * 1000 : 0);
  const today = new Date(now).toISOString().slice(0, 10);
  const ack = h("input", { type: "checkbox", id: "ack-waiting", name: "ackWaiting" });
  const warning = h(
    "div",
    { class: "error", id: "waiting-warning", role: "alert", hidden: true },
    h("strong", {}, "This diagnosis is inside your waiting period."),
    " ",
    h("span", {}, `Your waiting period ends on ${waitingEnds || "—"}. Filing now does not send the claim to review: it is rejected at once (WAITING_PERIOD), your membership ends for good and cannot be resumed, and the shares you paid are refunded.`),
    h("div", { class: "choice" }, h("label", { for: "ack-waiting" }, ack, "I have read this and want to file anyway")),
  );
  const inWaiting = () => Boolean(waitingEnds && form.diagnosis.value && form.diagnosis.value < waitingEnds);
  const form = h(
    "form",
    { class: "card", id: "file-form", novalidate: true },
    errors,
    waitingEnds
      ? h(
          "p",
          { class: "hint", id: "waiting-hint" },
          waitingEnds <= today
            ? `Your waiting period ended on ${waitingEnds}: you are covered for illnesses diagnosed from that day.`
            : `Your waiting period ends on ${waitingEnds}: illnesses diagnosed before that day are not covered.`,
        )
      : null,
    h("div", { class: "field" }, h("label", { for: "illness" }, "Illness"), h("select", { id: "illness", name: "illness", required: true }, h("option", { value: "" }, "Choose…"), catalog.illnesses.map((i) => h("option", { value: i.code }, `${i.nameEn} · ${i.nameZh} (${i.code})`)))),
    h("div", { class: "field" }, h("label", { for: "diagnosis" }, "Date of diagnosis"), h("input", { id: "diagnosis", name: "diagnosis", type: "date", max: today, required: true })),
    warning,
    h("div", { class: "field" }, h("span", { class: "label", id: "docs-label" }, h("strong", {}, "Documents")), drop, list),
    h(
      "fieldset",
      { id: "claim-key" },
      h("legend", {}, "This claim's key"),
      h("p", { class: "hint", id: "claim-key-hint" }, "Your browser makes a key for this claim alone and keeps it encrypted under this passphrase; the server never sees either. Only this key can withdraw or appeal the claim: not even the operator can do it in your name. Download it from the claim's page to keep a copy."),
      h("div", { class: "field" }, h("label", { for: "claim-passphrase" }, "Passphrase"), h("input", { id: "claim-passphrase", name: "claimPassphrase", type: "password", minlength: 8, required: true, autocomplete: "new-password", "aria-describedby": "claim-key-hint" })),
      h("div", { class: "field" }, h("label", { for: "claim-passphrase-again" }, "Passphrase again"), h("input", { id: "claim-passphrase-again", name: "claimPassphraseAgain", type: "password", minlength: 8, required: true, autocomplete: "new-password" })),
    ),
    h("div", { class: "field" }, progress, progressText),
    h("button", { type: "submit", id: "submit-claim" }, "Submit claim"),
  );
  const showWarning = () => {
    warning.hidden = !inWaiting();
    if (warning.hidden) ack.checked = false;
  };
  form.diagnosis.addEventListener("change", showWarning);
  form.diagnosis.addEventListener("input", showWarning);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const missing = [];
    if (!form.illness.value) missing.push("the illness");
    if (!form.diagnosis.value) missing.push("the date of diagnosis");
    if (!files.length) missing.push("at least one document");
    if (missing.length) {
      showError(errors, { code: "VALIDATION_ERROR", message: `please add ${missing.join(", ")}` }, FILE_HINTS);
      return;
    }
    showWarning();
    if (inWaiting() && !ack.checked) {
      showError(errors, { code: "WAITING_PERIOD_NOT_ACKNOWLEDGED", message: `confirm that you read what filing inside the waiting period (it ends on ${waitingEnds}) does, or correct the date` }, FILE_HINTS);
      ack.focus();
      return;
    }
    const passphrase = form.claimPassphrase.value;
    if (passphrase.length < 8) {
      showError(errors, { code: "WRONG_PASSPHRASE", message: "choose a passphrase of at least 8 characters" }, FILE_HINTS);
      return;
    }
    if (passphrase !== form.claimPassphraseAgain.value) {
      showError(errors, { code: "PASSPHRASE_MISMATCH", message: "the two passphrases differ" }, FILE_HINTS);
      return;
    }
    showError(errors, null);
    let body = null;
    const button = form.querySelector("#submit-claim");
    button.disabled = true;
    progress.hidden = false;
    progress.value = 0;
    const onProgress = (loaded, total) => {
      const pct = Math.round((loaded / total) * 100);
      progress.value = pct;
      progressText.textContent = pct < 100 ? `Uploading… ${pct}%` : "Uploaded; recording the claim on chain…";
    };
    const send = () => upload("/claims", body, onProgress, { "Idempotency-Key": filingKey });
    try {
      // The claim's key is made and kept (encrypted) before anything is sent: only its address goes.
      progressText.textContent = "Making this claim's key in your browser…";
      const key = await createClaimKey(passphrase);
      form.claimPassphrase.value = "";
      form.claimPassphraseAgain.value = "";
      // The API reads the fields before any file: append them first.
      body = new FormData();
      body.append("illnessCode", form.illness.value);
      body.append("diagnosisDate", form.diagnosis.value);
      body.append("claimantKey", key.address);
      if (!warning.hidden && ack.checked) body.append("acknowledgeWaitingPeriod", "true");
      for (const f of files) body.append("files", f, f.name);
      let claim;
      let recovered = false;
      try {
        claim = await send();
      } catch (err) {
        if (err.code !== "NETWORK") throw err;
        // The answer was lost (often after every byte went out): ask again with the same key. The
        // server answers the claim it recorded (never a second one), or files it now if it had not.
        progressText.textContent = "The connection dropped after the upload; checking whether your claim was recorded…";
        claim = await send();
        recovered = claim.replayed;
      }
      progress.value = 100;
      filingKey = newIdempotencyKey();
      const done = recovered
        ? "Your connection dropped after the upload, but your claim had been recorded: it is recovered below, and no second claim was filed."
        : claim.status === "REJECTED" ? "Your claim was recorded and rejected by the plan's rules (see the reason below)." : "Your claim was filed and recorded on chain.";
      ctx.go(`#/claims/${claim.id}`, done);
    } catch (err) {
      progressText.textContent = "";
      progress.hidden = true;
      if (err.code === "WAITING_PERIOD_NOT_ACKNOWLEDGED") warning.hidden = false;
      showError(errors, err, FILE_HINTS);
    } finally {
      button.disabled = false;
    }
  });
  ctx.main.append(h("h1", {}, "File a claim"), form);
}

// An on-chain step's block time is the clock its windows are judged by; it is shown beside the
// server's time when they differ by a minute or more (a demo chain moved ahead: POST /chain/advance).
function stepTime(e) {
  if (!e.chainTime) return when(e.at);
  const apart = Math.abs(new Date(e.chainTime).getTime() - new Date(e.at).getTime());
  return apart < 60_000 ? when(e.chainTime) : `${when(e.chainTime)} on the chain's clock · ${when(e.at)} on the server's`;
}

// The filing receipt stamps the filing on the chain's clock, the claim record on the server's.
function filedTime(claim) {
  const stamped = claim.filingReceipt && claim.filingReceipt.filedAt;
  if (!stamped || Math.abs(stamped * 1000 - new Date(claim.filedAt).getTime()) < 60_000) return when(claim.filedAt);
  return `${when(stamped)} on the chain's clock · ${when(claim.filedAt)} on the server's`;
}

function timelineList(entries) {
  return h(
    "ol",
    { class: "timeline", id: "claim-timeline" },
    entries.map((e) =>
      h(
        "li",
        { class: e.blockNumber ? "onchain" : "offchain", dataset: { kind: e.kind } },
        h("span", { class: "kind" }, STEP_LABELS[e.kind] || e.kind),
        h("br"),
        h("span", { class: "hint step-time" }, stepTime(e)),
        e.blockNumber ? h("br") : null,
        e.blockNumber ? h("span", { class: "hint mono" }, `block ${e.blockNumber} · tx ${e.txHash}`) : null,
      ),
    ),
  );
}

const REASON_TEXT = { WAITING_PERIOD: "diagnosed inside the waiting period" };

/** The payout lines: what is or was paid, and what was claimed when nothing will be. */
function payoutFacts(claim) {
  if (claim.status === "PAID") return [["Paid", fen(claim.payoutFen)]];
  if (["REJECTED", "WITHDRAWN"].includes(claim.status)) return [["Payout", "none"], ["Amount claimed", fen(claim.payoutFen)]];
  return [["Payout if approved", fen(claim.payoutFen)]];
}

export async function renderClaim(ctx, claimPk) {
  ctx.main.append(h("h1", {}, "Claim"), loading());
  const [claim, timeline] = await Promise.all([api(`/claims/${claimPk}`), api(`/claims/${claimPk}/timeline`)]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  // A waiting-period rejection is decided by the rules at filing: the claim never reached the chain.
  const rulesOnly = claim.reasonCode === "WAITING_PERIOD" && !timeline.some((e) => e.blockNumber);
  const isMember = ctx.session.role === "member";
  const evidence = claim.evidence.map((ev) => {
    const slot = h("div", { class: "verify-slot" });
    const errors = h("div");
    const receiptButton = h("button", { type: "button", class: "secondary" }, "Download receipt");
    const verifyButton = h("button", { type: "button", class: "secondary" }, "Verify receipt here");
    const viewButton = h("button", { type: "button", class: "secondary" }, "View file");
    const doc = h("div", { class: "doc-slot" });
    viewButton.addEventListener("click", async () => {
      clear(doc).append(loading("Decrypting…"));
      try {
        const res = await api(`/claims/${claimPk}/evidence/${ev.id}/content`, { raw: true });
        await showDocument(doc, res, ev.mediaType, ev.originalName || `Document ${ev.id}`);
      } catch (err) {
        clear(doc);
        showError(errors, err);
      }
    });
    let downloaded = null; // the exact text the user saved: what "Verify receipt here" checks by default
    receiptButton.addEventListener("click", async () => {
      try {
        const receipt = await api(`/claims/${claimPk}/evidence/${ev.id}/receipt`);
        downloaded = JSON.stringify(receipt, null, 2);
        download(`hubao-evidence-receipt-${ev.id}.json`, downloaded);
      } catch (err) {
        showError(errors, err, { NOT_ANCHORED: "Not anchored yet: try again in a minute." });
      }
    });
    verifyButton.addEventListener("click", async () => {
      try {
        // The copy the user downloaded, when there is one; else the server's, shown so it can be saved.
        const text = downloaded ?? JSON.stringify(await api(`/claims/${claimPk}/evidence/${ev.id}/receipt`), null, 2);
        receiptWorkbench(slot, ev.id, text);
      } catch (err) {
        showError(errors, err, { NOT_ANCHORED: "Not anchored yet: try again in a minute." });
      }
    });
    return h(
      "li",
      { class: "card" },
      facts([
        ["File", ev.originalName || ev.id],
        ["Type", `${ev.mediaType}, ${Math.ceil(ev.size / 1024)} KB`],
        ["Anchored", ev.anchored ? "yes" : "not yet"],
        ["Commitment", h("span", { class: "mono" }, short(ev.commitment))],
      ]),
      errors,
      h("div", { class: "row" }, isMember ? viewButton : null, ev.anchored ? [receiptButton, verifyButton] : null),
      ev.anchored ? null : h("p", { class: "hint" }, "The receipt is ready once the evidence is anchored (usually within a minute)."),
      slot,
      doc,
    );
  });
  ctx.main.append(
    h("h1", {}, `Claim ${claim.illnessCode}`),
    h(
      "section",
      { class: "card" },
      facts([
        ["Status", badge(claim.status)],
        ...payoutFacts(claim),
        ["Diagnosed", claim.diagnosisDate],
        ["Filed", filedTime(claim)],
        claim.reasonCode ? ["Reason", REASON_TEXT[claim.reasonCode] ? `${REASON_TEXT[claim.reasonCode]} (${claim.reasonCode})` : claim.reasonCode] : null,
        rulesOnly
          ? ["Claim id on chain", "none: the plan's rules rejected the claim before it was filed on chain"]
          : ["Claim id on chain", h("span", { class: "mono" }, claim.claimId)],
        claim.chainMismatch && claim.chainMismatch.length ? ["Note", `the chain's ${claim.chainMismatch.join(", ")} shown`] : null,
      ]),
    ),
    // Element.append writes null as the text "null": leave absent parts out.
    ...(isMember ? [claimActions(ctx, claim), rulesOnly ? null : filingReceiptCard(claim)] : []).filter(Boolean),
    h("h2", {}, "Timeline"),
    timelineList(timeline),
    h("h2", {}, isMember ? "Your documents" : "Evidence"),
    h("ul", { class: "grid", id: "evidence-list" }, evidence),
  );
}

/** Verify an evidence receipt the user holds: the text below (pasted or loaded from a file), checked in this browser. */
function receiptWorkbench(slot, evidenceId, initialText) {
  const id = `receipt-${evidenceId}`;
  const text = h("textarea", { id, class: "receipt receipt-text", spellcheck: "false", "aria-describedby": `${id}-hint` });
  text.value = initialText;
  const picker = h("input", { type: "file", id: `${id}-file`, accept: ".json,application/json", class: "receipt-file visually-hidden" });
  const result = h("div", { class: "receipt-result" });
  const run = async () => {
    let doc;
    try {
      doc = JSON.parse(text.value);
    } catch {
      clear(result).append(stepList({ ok: false, failedStep: 1, steps: [{ step: 1, title: "the receipt is JSON", status: "fail", detail: "the text is not valid JSON" }] }, "Evidence receipt"));
      return;
    }
    clear(result).append(loading("Checking against the chain's record…"));
    try {
      const chain = doc && typeof doc === "object" && doc.batchId !== undefined ? await chainBatch(doc.batchId) : { chainId: null, contract: null, batch: null };
      clear(result).append(stepList(verifyEvidenceReceipt(doc, chain), "Evidence receipt"));
    } catch (err) {
      showError(result, err);
    }
  };
  picker.addEventListener("change", async () => {
    const file = picker.files && picker.files[0];
    if (!file) return;
    text.value = await file.text();
    picker.value = "";
    await run();
  });
  const verify = h("button", { type: "button", class: "secondary verify-receipt-text" }, "Verify this receipt");
  verify.addEventListener("click", run);
  clear(slot).append(
    result,
    h(
      "div",
      { class: "field" },
      h("label", { for: id }, "Receipt (JSON): the copy you downloaded, or paste one"),
      text,
      h("span", { class: "hint", id: `${id}-hint` }, "Change any byte and the check fails. To check without trusting this server, run ", h("code", {}, "hubao receipt verify RECEIPT.json --rpc URL"), "."),
    ),
    h("div", { class: "row" }, h("label", { for: `${id}-file`, class: "button secondary" }, "Load a receipt file"), picker, verify),
  );
  return run();
}

/**
 * The operator's signed filing receipt: its promise to have the claim on chain by onChainBy. The
 * claimant keeps it; `hubao receipt verify FILE --rpc URL` proves censorship (CENSORED) once the
 * deadline has passed with no claim on chain. None for a claim the rules rejected at filing.
 */
function filingReceiptCard(claim) {
  const errors = h("div", { "aria-live": "assertive" });
  const save = h("button", { type: "button", class: "secondary", id: "download-filing-receipt" }, "Download filing receipt");
  save.addEventListener("click", async () => {
    try {
      const receipt = await api(`/claims/${claim.id}/filing-receipt`);
      download(`hubao-filing-receipt-${claim.id}.json`, JSON.stringify(receipt, null, 2));
    } catch (err) {
      showError(errors, err, { NO_FILING_RECEIPT: "This claim was decided at filing and never goes on chain: there is no filing receipt." });
    }
  });
  return h(
    "section",
    { class: "card", id: "filing-receipt", "aria-labelledby": "filing-receipt-h" },
    h("h2", { id: "filing-receipt-h" }, "Filing receipt"),
    h("p", { class: "hint" }, "The operator signed, when it accepted your filing, a promise to have it on chain by a deadline. Keep the receipt: if the claim is not on chain by then, ", h("code", {}, "hubao receipt verify RECEIPT.json --rpc URL"), " proves it (CENSORED) against any node."),
    errors,
    h("div", { class: "row" }, save),
  );
}

const OPEN_STATES = ["FILED", "UNDER_REVIEW", "IN_NOTICE", "DISPUTED"]; // as backend.services.claims.OPEN_STATES
const ACTION_HINTS = {
  APPEAL_NOT_ALLOWED: "This claim cannot be appealed.",
  INVALID_STATE: "Not possible in this state.",
  WRONG_PASSPHRASE: "The passphrase does not open this claim's key.",
  NO_KEY: "This browser does not hold this claim's key: open the browser you filed it from.",
  NO_CLAIMANT_KEY: "This claim was filed before claim keys: nothing can sign this.",
  DRAFT_MISMATCH: "The server's draft was not what you asked for: nothing was signed.",
  WRONG_SIGNER: "The server asked for another key than this claim's: nothing was signed.",
};

/**
 * Withdraw and appeal: the server drafts the EIP-712 Withdrawal / Appeal, this browser signs it with
 * the claim's own key (unlocked with its passphrase), the server relays it; ClaimLedger refuses any
 * other signer. Also: download the claim's key (keystore v3) to keep a copy.
 */
function claimActions(ctx, claim) {
  const errors = h("div", { "aria-live": "assertive" });
  const status = h("span", { class: "hint", id: "claim-action-status", "aria-live": "polite" });
  const held = hasClaimKey(claim.claimantKey);
  const pass = h("input", { id: "claim-action-passphrase", type: "password", autocomplete: "current-password", minlength: 8 });
  const act = (path, kind, question, done) => async () => {
    if (!window.confirm(question)) return;
    try {
      status.textContent = "Preparing…";
      const draft = await api(`/claims/${claim.id}/${path}/draft`, { method: "POST" });
      status.textContent = "Unlocking this claim's key and signing in your browser…";
      const body = await signClaimAction(draft, kind, claim, pass.value);
      pass.value = "";
      status.textContent = "Relaying your signed request…";
      await api(`/claims/${claim.id}/${path}`, { method: "POST", json: body });
      ctx.go(`#/claims/${claim.id}`, done);
    } catch (err) {
      status.textContent = "";
      showError(errors, err, ACTION_HINTS);
    }
  };
  const buttons = [];
  if (OPEN_STATES.includes(claim.status)) {
    buttons.push(h("button", { type: "button", class: "secondary", id: "withdraw-claim", onclick: act("withdraw", "Withdrawal", "Withdraw this claim? This cannot be undone.", "Your claim was withdrawn.") }, "Withdraw claim"));
  }
  if (claim.status === "REJECTED" && claim.reasonCode !== "WAITING_PERIOD") {
    buttons.push(h("button", { type: "button", id: "appeal-claim", onclick: act("appeal", "Appeal", "Appeal the rejection? A jury of members will decide.", "Your appeal was recorded: a jury will decide.") }, "Appeal to a jury"));
  }
  const exportButton = held ? h("button", { type: "button", class: "secondary", id: "export-claim-key", onclick: () => exportClaimKey(claim.claimantKey) }, "Download this claim's key") : null;
  if (!buttons.length && !exportButton) return null;
  return h(
    "section",
    { class: "card", id: "claim-actions", "aria-labelledby": "claim-actions-h" },
    h("h2", { id: "claim-actions-h" }, "Your claim's key"),
    claim.claimantKey ? h("p", { class: "hint" }, "Key ", h("span", { class: "mono" }, short(claim.claimantKey)), held ? " is kept in this browser, encrypted under the passphrase you chose when filing." : " is not in this browser: use the browser you filed from, or sign with `hubao sign typed-data --keystore` and the downloaded key.") : null,
    errors,
    buttons.length && held ? h("div", { class: "field" }, h("label", { for: "claim-action-passphrase" }, "Passphrase of this claim's key"), pass) : null,
    h("div", { class: "row" }, held ? buttons : null, exportButton),
    status,
  );
}

/** The chain's record of an evidence batch, for verifyEvidenceReceipt's steps 6–11. */
async function chainBatch(batchId) {
  try {
    const batch = await api(`/anchors/${batchId}`);
    return { chainId: batch.chainId, contract: batch.contract, batch };
  } catch (err) {
    if (err.code === "BATCH_NOT_FOUND" || err.code === "VALIDATION_ERROR") return { chainId: null, contract: null, batch: null };
    throw err;
  }
}

async function chainPeriods() {
  const periods = await api("/periods");
  return new Map(periods.map((p) => [p.periodId, p]));
}

/** The member's join receipt (public copy) or null while it is not anchored / no membership. */
async function joinReceipt() {
  try {
    return await api("/members/me/join-receipt");
  } catch (err) {
    if (err.status === 404 || err.status === 409) return null;
    throw err;
  }
}

/**
 * The membership-log section of "My shares": whether the join is anchored, and every published
 * period since then that does not include the member although the join was anchored before it was
 * published and the membership had not ended at its snapshot ("left out").
 */
function membershipLogSection(receipt, member, periods, shares) {
  const section = h("section", { id: "membership-log", "aria-labelledby": "membership-log-heading" }, h("h2", { id: "membership-log-heading" }, "My membership on the public log"));
  if (!receipt) {
    section.append(h("p", { class: "muted", id: "join-status" }, "Your join is queued for the public membership log; its receipt is ready once anchored (usually within a minute)."));
    return section;
  }
  const save = h("button", { type: "button", class: "secondary" }, "Download join receipt");
  save.addEventListener("click", () => download("hubao-join-receipt.json", JSON.stringify(receipt, null, 2)));
  section.append(
    h("p", { id: "join-status" }, `Your join is anchored in the membership log (batch ${receipt.batchId}, block ${receipt.anchorBlock}), effective ${when(receipt.leaf.effectiveAt)}.`),
    h("div", { class: "row" }, save),
  );
  const ended = member && member.endedAt ? Date.parse(member.endedAt) : null;
  const charged = new Set(shares.map((s) => s.periodId));
  const leftOut = [...periods.values()].filter((p) => {
    const snapshot = Date.parse(p.noticeAt);
    return snapshot >= receipt.leaf.effectiveAt * 1000 && p.blockNumber >= receipt.anchorBlock && (ended === null || snapshot < ended) && !charged.has(p.periodId);
  });
  if (leftOut.length) {
    section.append(
      h("p", { class: "error", role: "alert", id: "left-out" }, `You were left out of period${leftOut.length > 1 ? "s" : ""} ${leftOut.map((p) => p.periodId).join(", ")}: your join was anchored before ${leftOut.length > 1 ? "they were" : "it was"} published, yet ${leftOut.length > 1 ? "they do" : "it does"} not include you (the others paid more). To prove it without trusting this server, run `, h("code", {}, "hubao shares verify hubao-join-receipt.json --rpc URL --apportionment ADDRESS"), "."),
    );
  } else {
    section.append(h("p", { class: "hint", id: "left-out" }, "Every period published since your join includes you."));
  }
  return section;
}

export async function renderShares(ctx) {
  ctx.main.append(h("h1", {}, "My shares"), loading());
  const history = await api("/me/shares").catch((err) => {
    if (err.status === 404) return { shares: [] };
    throw err;
  });
  const [receipt, member, periods] = await Promise.all([joinReceipt(), membership(), chainPeriods()]);
  if (!ctx.isCurrent()) return;
  clear(ctx.main);
  ctx.main.append(
    h("h1", {}, "My shares"),
    h("p", { class: "hint" }, "Each period, approved claims are shared among all members. Verify checks your row's Merkle proof against the ledger root recorded on chain, in this browser."),
  );
  if (member) ctx.main.append(membershipLogSection(receipt, member, periods, history.shares));
  if (!history.shares.length) {
    ctx.main.append(h("p", { class: "muted" }, "No published period includes you yet."));
    return;
  }
  const workspace = h("section", { id: "verify-workspace", "aria-live": "polite" });
  const rows = history.shares.map((s) => {
    const verify = h("button", { type: "button", "data-period": s.periodId, "aria-label": `Verify my share for period ${s.periodId}` }, "Verify");
    verify.addEventListener("click", () => openReceipt(workspace, s.periodId));
    return [String(s.periodId), zonedDay(s.debitAt), fen(s.shareFen), fen(s.subsidyFen), fen(s.yearToDateFen), verify];
  });
  // A ¥0 share needs a reason next to it, else it reads as a fault (issue 17: "shares ¥0 although a claim is paid").
  const zeroes = history.shares.filter((s) => Number(s.shareFen) === 0).map((s) => {
    const p = periods.get(s.periodId);
    const why = !p ? "its record on chain could not be read"
      : p.claimCount === 0 ? "no claim was approved in its window (a claim approved after the window closed is shared in a later period)"
      : Number(s.subsidyFen) > 0 ? "the operator's subsidy covered your share"
      : "the plan's surplus covered the payouts";
    return h("li", {}, `Period ${s.periodId}: you pay ${fen(0)} because ${why}.`);
  });
  if (zeroes.length) ctx.main.append(h("ul", { class: "hint", id: "zero-shares" }, zeroes));
  ctx.main.append(
    dataTable("shares-table", [["Period"], ["Debit day (plan time)"], ["You pay", { num: true }], ["Subsidy", { num: true }], ["Year to date", { num: true }], ["Actions", { hidden: true }]], rows),
    workspace,
  );
}

async function openReceipt(workspace, periodId) {
  clear(workspace).append(loading("Fetching the receipt and the chain's record…"));
  let receipt;
  let periods;
  try {
    [receipt, periods] = await Promise.all([api(`/me/shares/${periodId}/receipt`), chainPeriods()]);
  } catch (err) {
    showError(clear(workspace), err);
    return;
  }
  const text = h("textarea", { id: "receipt-text", class: "receipt", spellcheck: "false", "aria-describedby": "receipt-hint" });
  text.value = JSON.stringify(receipt, null, 2);
  const result = h("div", { id: "verify-result" });
  const run = () => {
    let doc;
    try {
      doc = JSON.parse(text.value);
    } catch {
      clear(result).append(stepList({ ok: false, failedStep: 1, steps: [{ step: 1, title: "the receipt is JSON", status: "fail", detail: "the text is not valid JSON" }] }, "Share receipt"));
      return;
    }
    const chain = periods.get(doc.periodId) || null;
    const outcome = verifyShareReceipt(doc, chain);
    if (outcome.ok && !chain) {
      outcome.ok = false;
      outcome.failedStep = 7;
      outcome.steps.push({ step: 7, title: "the ledger root is the one recorded on chain", status: "fail", detail: `the chain has no published period ${doc.periodId}` });
    }
    clear(result).append(stepList(outcome, `Share for period ${doc.periodId}`));
  };
  const again = h("button", { type: "button", id: "verify-text", class: "secondary" }, "Verify the receipt text");
  again.addEventListener("click", run);
  const save = h("button", { type: "button", class: "secondary" }, "Download receipt");
  save.addEventListener("click", () => download(`hubao-share-receipt-${periodId}.json`, text.value));
  clear(workspace).append(
    h("h2", { tabindex: -1, id: "verify-heading" }, `Period ${periodId}: your receipt`),
    result,
    h("div", { class: "field" }, h("label", { for: "receipt-text" }, "Receipt (JSON)"), text, h("span", { class: "hint", id: "receipt-hint" }, "Keep a copy. Change any figure and the check fails. The chain's record above comes through this server; to check without trusting it, run ", h("code", {}, "hubao shares verify RECEIPT.json --rpc URL"), " against any node.")),
    h("div", { class: "row" }, again, save),
  );
  run();
  workspace.querySelector("#verify-heading").focus();
}
