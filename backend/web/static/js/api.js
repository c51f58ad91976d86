// The API client: same origin, bearer token kept for the tab (sessionStorage), every error as an
// ApiError carrying the API's {code, message}.
//
// Tokens last 30 minutes; the sign-in session they belong to lasts longer (HUBAO_SESSION_MAX_AGE,
// 12 hours by default). A minute before the tab's token expires it is exchanged for a new one of the
// same session (POST /auth/refresh): by a timer while the page is open, and before any request that
// would carry it late (a sleeping laptop's timers fire late; the server takes an expired token as
// long as its session lasts). Once the session has ended, the refresh's 401 signs the tab out.

const SESSION_KEY = "hubao.session";
const REFRESH_MARGIN_MS = 60_000;
let refreshTimer = null;
let refreshing = null;

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export const session = {
  get() {
    try {
      const raw = sessionStorage.getItem(SESSION_KEY);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  },
  set(value) {
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(value));
  },
  clear() {
    clearTimeout(refreshTimer);
    sessionStorage.removeItem(SESSION_KEY);
  },
};

const listeners = new Set();
/** Called with the ApiError when the API says the session is no longer valid (401). */
export function onUnauthorized(fn) {
  listeners.add(fn);
}

async function errorOf(status, readBody) {
  try {
    const body = await readBody();
    if (body && typeof body.code === "string" && typeof body.message === "string") {
      return new ApiError(status, body.code, body.message);
    }
  } catch {
    /* not JSON: fall through to a generic message */
  }
  const generic = status >= 500 ? "the service is unavailable right now; try again shortly" : `the request was refused (HTTP ${status})`;
  return new ApiError(status, `HTTP_${status}`, generic);
}

function authHeaders() {
  const s = session.get();
  return s ? { Authorization: `Bearer ${s.token}` } : {};
}

/** When the session's token expires (ms since the epoch): as the API said, else the token's own `exp`. */
function expiresAtOf(s) {
  if (typeof s.expiresAt === "number") return s.expiresAt;
  try {
    const payload = s.token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(payload)).exp * 1000;
  } catch {
    return Infinity;
  }
}

/** Exchange the tab's token for a new one of the same session (one exchange at a time). */
export function refreshSession() {
  if (!refreshing) {
    refreshing = (async () => {
      const s = session.get();
      if (!s) return;
      let res;
      try {
        res = await fetch("/auth/refresh", {
          method: "POST",
          headers: { Accept: "application/json", Authorization: `Bearer ${s.token}` },
          cache: "no-store",
        });
      } catch {
        return; // offline: the next request tries again
      }
      const current = session.get();
      if (!current || current.token !== s.token) return; // signed out, or in again, meanwhile
      if (res.ok) {
        const token = await res.json(); // OAuth2 (RFC 6749) names: access_token, expires_in
        session.set({ ...current, token: token.access_token, expiresAt: Date.now() + token.expires_in * 1000 });
        keepSessionFresh();
      } else if (res.status === 401) {
        const err = await errorOf(res.status, () => res.json());
        listeners.forEach((fn) => fn(err));
      }
    })().finally(() => {
      refreshing = null;
    });
  }
  return refreshing;
}

/** Refresh the tab's token a minute before it expires (call after signing in and on load). */
export function keepSessionFresh() {
  clearTimeout(refreshTimer);
  const s = session.get();
  if (!s) return;
  const due = expiresAtOf(s) - REFRESH_MARGIN_MS - Date.now();
  if (Number.isFinite(due)) refreshTimer = setTimeout(refreshSession, Math.max(0, due));
}

/** The Authorization header, the token refreshed first when it is (nearly) expired. */
async function freshAuthHeaders() {
  const s = session.get();
  if (s && Date.now() >= expiresAtOf(s) - REFRESH_MARGIN_MS) await refreshSession();
  return authHeaders();
}

/** fetch() an API path; JSON in (`json`) or a form (`form`), JSON out unless `raw`. */
export async function api(path, { method = "GET", json, form, raw = false } = {}) {
  const headers = { Accept: "application/json", ...(path === "/auth/token" ? {} : await freshAuthHeaders()) };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body, cache: "no-store" });
  } catch {
    throw new ApiError(0, "NETWORK", "cannot reach the server; check your connection and try again");
  }
  if (!res.ok) {
    const err = await errorOf(res.status, () => res.json());
    if (res.status === 401) listeners.forEach((fn) => fn(err));
    throw err;
  }
  if (raw) return res;
  if (res.status === 204) return null;
  return res.json();
}

/** A random idempotency key (hex; crypto.getRandomValues works outside secure contexts too). */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * POST a multipart form with upload progress (XMLHttpRequest: fetch has no upload progress).
 * Resolves to the JSON body; `replayed` is set on it (non-enumerable) when the server answered an
 * Idempotency-Key it had already seen (header Idempotent-Replayed: the claim was recorded before).
 */
export async function upload(path, formData, onProgress, headers = {}) {
  const auth = await freshAuthHeaders();
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.responseType = "json";
    xhr.setRequestHeader("Accept", "application/json");
    for (const [k, v] of Object.entries({ ...auth, ...headers })) xhr.setRequestHeader(k, v);
    let uploadedAll = false;
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) onProgress(e.loaded, e.total);
    });
    xhr.upload.addEventListener("load", () => {
      uploadedAll = true;
    });
    xhr.addEventListener("load", async () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        const body = xhr.response;
        if (body && typeof body === "object") Object.defineProperty(body, "replayed", { value: xhr.getResponseHeader("Idempotent-Replayed") === "true" });
        resolve(body);
        return;
      }
      const err = await errorOf(xhr.status, async () => xhr.response);
      if (xhr.status === 401) listeners.forEach((fn) => fn(err));
      reject(err);
    });
    xhr.addEventListener("error", () => {
      const err = new ApiError(0, "NETWORK", "the upload was interrupted; check your connection and try again");
      err.uploaded = uploadedAll; // every byte was sent: the server may have recorded the claim
      reject(err);
    });
    xhr.addEventListener("abort", () => reject(new ApiError(0, "ABORTED", "the upload was cancelled")));
    xhr.send(formData);
  });
}

/** Sign in with the OAuth2 password flow; stores and returns {token, role, username, id}. */
export async function signIn(username, password) {
  const form = new URLSearchParams({ username, password, grant_type: "password" });
  const token = await api("/auth/token", { method: "POST", form }); // OAuth2 (RFC 6749) names: access_token
  const expiresAt = Date.now() + token.expires_in * 1000;
  session.set({ token: token.access_token, role: token.role, username, expiresAt });
  const me = await api("/auth/me");
  const current = session.get(); // the token, refreshed meanwhile if it was about to expire
  const value = { token: current.token, expiresAt: current.expiresAt, role: me.role, username: me.username, id: me.id };
  session.set(value);
  keepSessionFresh();
  return value;
}
