// The "your signing key" card: create a key in this browser, import a keystore v3 file, download a
// backup, register the key (proof of possession), or use an injected browser wallet instead.
// The passphrase fields never leave the page: they unlock the keystore locally (keystore.js).

import { api, session } from "../api.js";
import { clear, h, roleStandingText, showError, short } from "../ui.js";
import { createDeviceKey, downloadKeystore, importKeystore, keystoreAddress, loadKeystore } from "./keystore.js";
import { DeviceSigner, WalletSigner, injectedProvider, proveKeyPossession } from "./wallet.js";

/**
 * My signing key as the server knows it: {address, custody: "device" | "server" | "none",
 * deviceKeysSupported, onChainRole}, with `planTimeZone` (the plan's, to show the role's times in;
 * null when the chain's clock cannot be read).
 */
export async function myKey() {
  const [key, clock] = await Promise.all([api("/signing-key"), api("/chain/time").catch(() => null)]);
  return { ...key, planTimeZone: clock ? clock.planTimeZone : null };
}

/** Register `signer`'s key: the server's challenge, signed on this device, sent back. Resolves to the address. */
export async function registerKey(signer) {
  const me = session.get();
  const challenge = await api("/signing-key/challenge", { method: "POST", json: { address: signer.address } });
  const answer = await proveKeyPossession(signer, challenge.typedData, me.username);
  const done = await api("/signing-key", {
    method: "POST",
    json: { address: signer.address, expiresAt: Number(challenge.typedData.message.expiresAt), signature: answer.signature },
  });
  return done.address;
}

const HINTS = {
  WRONG_PASSPHRASE: "The passphrase does not open this key.",
  BAD_KEYSTORE: "This file is not an Ethereum keystore (version 3).",
  NO_WEBCRYPTO: "Open the site over HTTPS to use a key in this browser.",
};

function passphrase(id, label, autocomplete = "current-password") {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    h("input", { id, name: id, type: "password", required: true, minlength: 8, autocomplete }),
  );
}

function progressLine() {
  const line = h("p", { class: "hint", role: "status" });
  return { line, report: (text) => (line.textContent = text) };
}

/**
 * Render the key card into `slot`. `account` names the key in this browser's storage;
 * `onChainRole` (GET /signing-key) says where the key's roster role stands, its times shown in
 * `timeZone` (the plan's, GET /chain/time);
 * `registered` is the address the server holds for the account (or null); `onRegister(signer)`
 * registers a signer's key with the server (signs the challenge) and resolves to the new address;
 * `onChange()` is called after any change so the caller can re-render; `note` replaces the
 * "no key yet" line (e.g. to say the account still uses a server-held key).
 */
export function renderKeyPanel(slot, { account, registered, onRegister, onChange = () => {}, note = null, onChainRole = null, timeZone = null }) {
  clear(slot);
  const errors = h("div", { "aria-live": "assertive" });
  const card = h("section", { class: "card", id: "device-key" }, h("h2", {}, "Your signing key"), errors);
  const standing = roleStandingText(onChainRole, timeZone);
  if (standing) card.append(h("p", { id: "role-status", dataset: { status: onChainRole.status } }, standing));
  slot.append(card);
  const kept = loadKeystore(account);
  const here = kept ? keystoreAddress(kept) : null;
  const registeredHere = here && registered && here.toLowerCase() === registered.toLowerCase();

  const guard = (fn) => async (e) => {
    e.preventDefault();
    clear(errors);
    const button = e.target.querySelector ? e.target.querySelector("button[type=submit]") : null;
    if (button) button.disabled = true;
    try {
      await fn(e);
    } catch (err) {
      // No progress line may go on saying "Unlocking the key…" beside the error.
      card.querySelectorAll("[role=status]").forEach((line) => (line.textContent = ""));
      showError(errors, err, HINTS);
    } finally {
      if (button) button.disabled = false;
    }
  };

  if (here) {
    card.append(
      h(
        "p",
        { id: "key-status", dataset: { address: here, registered: registeredHere ? "true" : "false" } },
        registeredHere ? "✓ Your registered signing key is in this browser: " : "A signing key is in this browser, not registered yet: ",
        h("span", { class: "mono" }, short(here, 8)),
      ),
      h("p", { class: "hint" }, "It is encrypted under your passphrase; the server never sees the key or the passphrase. Keep a backup file."),
    );
    const backup = h("button", { type: "button", class: "secondary", id: "key-download" }, "Download backup (keystore file)");
    backup.addEventListener("click", () => downloadKeystore(kept));
    card.append(h("div", { class: "row" }, backup));
    if (!registeredHere && onRegister) {
      const { line, report } = progressLine();
      const form = h(
        "form",
        { id: "key-register-form", novalidate: true },
        passphrase("key-register-passphrase", "Passphrase of this key"),
        h("button", { type: "submit" }, "Register this key"),
        line,
      );
      form.addEventListener(
        "submit",
        guard(async () => {
          report("Unlocking the key…");
          const signer = await DeviceSigner.unlock(account, form["key-register-passphrase"].value);
          try {
            report("Signing the registration challenge…");
            await onRegister(signer);
          } finally {
            signer.lock();
            form.reset();
          }
          report("Registered.");
          onChange();
        }),
      );
      card.append(form);
    }
    return card;
  }

  if (registered) {
    card.append(
      h(
        "p",
        { id: "key-status", dataset: { address: registered, registered: "true" } },
        "Your registered key ",
        h("span", { class: "mono" }, short(registered, 8)),
        " is not in this browser: import its keystore file below, or use the wallet that holds it.",
      ),
    );
  } else {
    card.append(h("p", { id: "key-status", dataset: { registered: "false" } }, note || "You have no signing key yet. Create one here or import a keystore file: only you will hold it."));
  }

  const create = progressLine();
  const createForm = h(
    "form",
    { id: "key-create-form", novalidate: true },
    h("h3", {}, "Create a key in this browser"),
    passphrase("key-passphrase", "New passphrase (8 characters or more)", "new-password"),
    passphrase("key-passphrase2", "Repeat the passphrase", "new-password"),
    h("button", { type: "submit" }, "Create key"),
    create.line,
  );
  createForm.addEventListener(
    "submit",
    guard(async () => {
      const p1 = createForm["key-passphrase"].value;
      if (p1 !== createForm["key-passphrase2"].value) throw { code: "VALIDATION_ERROR", message: "the two passphrases differ" };
      create.report("Making and encrypting the key (a few seconds)…");
      const { keystore } = await createDeviceKey(account, p1, { onProgress: (f) => create.report(`Encrypting… ${Math.round(f * 100)} %`) });
      createForm.reset();
      downloadKeystore(keystore);
      create.report("Key created; a backup file was downloaded.");
      onChange();
    }),
  );

  const imp = progressLine();
  const file = h("input", { id: "key-file", name: "key-file", type: "file", accept: ".json,application/json" });
  const importForm = h(
    "form",
    { id: "key-import-form", novalidate: true },
    h("h3", {}, "Import a keystore file"),
    h("div", { class: "field" }, h("label", { for: "key-file" }, "Keystore file (version 3 JSON, e.g. from hubao keys new)"), file),
    passphrase("key-import-passphrase", "Its passphrase"),
    h("button", { type: "submit" }, "Import key"),
    imp.line,
  );
  importForm.addEventListener(
    "submit",
    guard(async () => {
      if (!file.files || !file.files.length) throw { code: "VALIDATION_ERROR", message: "choose the keystore file" };
      imp.report("Opening the keystore…");
      const text = await file.files[0].text();
      await importKeystore(account, text, importForm["key-import-passphrase"].value, { onProgress: (f) => imp.report(`Opening… ${Math.round(f * 100)} %`) });
      importForm.reset();
      imp.report("Key imported.");
      onChange();
    }),
  );
  card.append(h("div", { class: "grid" }, createForm, importForm));

  const provider = injectedProvider();
  if (provider && onRegister) {
    const use = h("button", { type: "button", class: "secondary", id: "key-wallet" }, "Register my browser wallet's key instead");
    use.addEventListener(
      "click",
      guard(async () => {
        const signer = await WalletSigner.connect(provider);
        await onRegister(signer);
        onChange();
      }),
    );
    card.append(h("div", { class: "row" }, use));
  }
  return card;
}

/**
 * The signer for a verdict: the key in this browser (unlocked with `passphraseValue`) when it is the
 * registered one, else the injected wallet when it holds the registered address.
 */
export async function signerFor(account, registered, passphraseValue) {
  const kept = loadKeystore(account);
  if (kept && registered && keystoreAddress(kept).toLowerCase() === registered.toLowerCase()) {
    return DeviceSigner.unlock(account, passphraseValue);
  }
  const provider = injectedProvider();
  if (provider) {
    const wallet = await WalletSigner.connect(provider);
    if (registered && wallet.address.toLowerCase() === registered.toLowerCase()) return wallet;
  }
  throw { code: "NO_KEY", message: "your registered signing key is neither in this browser nor in a connected wallet" };
}

/** Whether signing for `registered` needs the passphrase field (the key is kept in this browser). */
export function needsPassphrase(account, registered) {
  const kept = loadKeystore(account);
  return Boolean(kept && registered && keystoreAddress(kept).toLowerCase() === registered.toLowerCase());
}
