// The API client: same origin, bearer token kept for the tab (sessionStorage), every error as an
// ApiError carrying the API's {code, message}.

const SESSION_KEY = "hubao.session";

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

/** fetch() an API path; JSON in (`json`) or a form (`form`), JSON out unless `raw`. */
export async function api(path, { method = "GET", json, form, raw = false } = {}) {
  const headers = { Accept: "application/json", ...authHeaders() };
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
export function upload(path, formData, onProgress, headers = {}) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.responseType = "json";
    xhr.setRequestHeader("Accept", "application/json");
    for (const [k, v] of Object.entries({ ...authHeaders(), ...headers })) xhr.setRequestHeader(k, v);
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
  session.set({ token: token.access_token, role: token.role, username });
  const me = await api("/auth/me");
  const value = { token: token.access_token, role: me.role, username: me.username, id: me.id };
  session.set(value);
  return value;
}
