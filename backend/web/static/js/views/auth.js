import { api, signIn } from "../api.js";
import { h, showError } from "../ui.js";

const HOME = { member: "#/member", reviewer: "#/review", juror: "#/jury", auditor: "#/audit/timeline", operator: "#/audit/timeline" };
const HINTS = { INVALID_CREDENTIALS: "Sign-in failed.", UNAUTHORIZED: "Sign-in failed." };

export function renderSignIn(ctx) {
  const errors = h("div", { "aria-live": "assertive" });
  const form = h(
    "form",
    { class: "card", id: "signin-form", novalidate: true },
    errors,
    h("div", { class: "field" }, h("label", { for: "username" }, "Username"), h("input", { id: "username", name: "username", type: "text", autocomplete: "username", required: true })),
    h("div", { class: "field" }, h("label", { for: "password" }, "Password"), h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true })),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = form.username.value.trim();
    const password = form.password.value;
    if (!username || !password) {
      showError(errors, { code: "VALIDATION_ERROR", message: "enter your username and password" });
      return;
    }
    try {
      const s = await signIn(username, password);
      ctx.go(HOME[s.role] || "#/");
    } catch (err) {
      showError(errors, err, HINTS);
    }
  });
  ctx.main.append(
    h("h1", {}, "Sign in"),
    form,
    h("p", {}, "New to the plan? ", h("a", { href: "#/register" }, "Create a member account"), ", then join."),
  );
}

export function renderRegister(ctx) {
  const errors = h("div", { "aria-live": "assertive" });
  const form = h(
    "form",
    { class: "card", id: "register-form", novalidate: true },
    errors,
    h("div", { class: "field" }, h("label", { for: "reg-username" }, "Choose a username"), h("input", { id: "reg-username", name: "username", type: "text", autocomplete: "username", required: true, "aria-describedby": "reg-username-hint" }), h("span", { class: "hint", id: "reg-username-hint" }, "3–64 characters: letters, digits, dot, dash, underscore.")),
    h("div", { class: "field" }, h("label", { for: "reg-password" }, "Choose a password"), h("input", { id: "reg-password", name: "password", type: "password", autocomplete: "new-password", required: true, "aria-describedby": "reg-password-hint" }), h("span", { class: "hint", id: "reg-password-hint" }, "At least 10 characters.")),
    h("button", { type: "submit" }, "Create account"),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await api("/accounts/register", { method: "POST", json: { username: form.username.value.trim(), password: form.password.value } });
      await signIn(form.username.value.trim(), form.password.value);
      ctx.go("#/join", "Account created. Now join the plan.");
    } catch (err) {
      showError(errors, err);
    }
  });
  ctx.main.append(h("h1", {}, "Create a member account"), form, h("p", {}, h("a", { href: "#/signin" }, "Back to sign in")));
}
