// The public API with the signed-in token. The token lives in this tab's sessionStorage only.

const KEY = "ams.console.token";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.details = error.details || {};
    this.requestId = error.request_id || "";
  }
  /** The token itself was refused: missing, malformed, badly signed or expired. */
  get refusedToken() {
    return this.status === 401;
  }
}

export const session = {
  get token() { return sessionStorage.getItem(KEY); },
  start(token) { sessionStorage.setItem(KEY, token); },
  end() { sessionStorage.removeItem(KEY); },
  /** The token's claims (read, not verified: the API verifies every call). */
  get claims() {
    try {
      const part = (this.token || "").split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part + "=".repeat((4 - (part.length % 4)) % 4)));
    } catch {
      return {};
    }
  },
  /** What the token's roles allow; the console offers nothing more. */
  get can() {
    const roles = new Set(Array.isArray(this.claims.roles) ? this.claims.roles : []);
    const admin = roles.has("admin");
    return { write: admin || roles.has("editor"), admin };
  },
};

/** Called with the error when any call finds the token refused. */
let onRefused = () => {};
export function whenRefused(handler) { onRefused = handler; }

export async function api(method, path, body, headers = {}) {
  // no-store: an agent's ETag is its version, which a status change keeps, so a revalidated
  // copy (304) would show the old status.
  const init = { method, cache: "no-store", headers: { Accept: "application/json", Authorization: `Bearer ${session.token}`, ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, { error: { message: "The service cannot be reached." } });
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new ApiError(response.status, data);
    if (error.refusedToken) onRefused(error);
    throw error;
  }
  return data;
}

/** `path?query` with the non-empty values of `params`. */
export function withQuery(path, params) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ""));
  const text = query.toString();
  return text ? `${path}?${text}` : path;
}
