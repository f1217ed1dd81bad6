// The service's JSON API, and who the browser is: an anonymous volunteer (a client id kept in
// localStorage) and, optionally, a signed-in researcher (a password account's token).

const CLIENT_KEY = "smokewatch.clientId";
const RESEARCHER_KEY = "smokewatch.researcher";
const VOLUNTEER_TOKEN_KEY = "smokewatch.volunteerToken";
// A crowd worker's session (this tab): its token and the task page to go back to; while it is
// kept, the tutorial records the worker's results, which are the study's qualification.
const CROWD_KEY = "smokewatch.crowd";
// The original RISE pages keep their sign-in here (Util.login reuses it instead of Google's);
// when they are served on this origin, a researcher signed in here is signed in there too.
const RISE_USER_KEY = "user_data";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** How long a call may take before it counts as a network failure: a request that stalls (a
 *  dead connection, a server that never answers) would otherwise leave its page waiting for
 *  good, and the callers' keep-and-retry paths never take over. */
export const TIMEOUT_MS = 20_000;

/** Call the API. Resolves to {status, data} (data is null for a 204); throws ApiError for a
 *  4xx/5xx answer (with the service's message) and TypeError when the network fails or the
 *  answer takes longer than ``timeout`` ms. */
export async function api(path, body = undefined, { method, token, form, query, timeout = TIMEOUT_MS } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const init = { method: method || (body === undefined && !form ? "GET" : "POST"), headers: {} };
  if (form) {
    init.headers["Content-Type"] = "application/x-www-form-urlencoded";
    init.body = new URLSearchParams(form).toString();
  } else if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (token) init.headers["Authorization"] = `Bearer ${token}`;
  // setTimeout rather than AbortSignal.timeout: the same clock as the pages' other timers
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeout);
  init.signal = controller.signal;
  let response = null;
  let data = null;
  try {
    response = await fetch(url, init);
    const type = response.headers.get("content-type") || "";
    if (response.status !== 204 && type.includes("application/json")) {
      data = await response.json().catch(() => null);
    }
  } catch (error) {
    if (controller.signal.aborted) throw new TypeError("The request timed out");
    throw error;
  } finally {
    clearTimeout(timer);
  }
  // a body cut off by the timeout reads as no body: not an answer
  if (controller.signal.aborted) throw new TypeError("The request timed out");
  if (response.status === 204) return { status: 204, data: null };
  if (!response.ok) {
    const message = (data && (data.message || data.detail)) || `${response.status} ${response.statusText}`;
    throw new ApiError(response.status, typeof message === "string" ? message : JSON.stringify(message));
  }
  return { status: response.status, data };
}

/** The claims of a JWT (not verified: the server does that). */
export function claims(token) {
  try {
    const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), "=")));
  } catch {
    return {};
  }
}

/** A page token's times, counted from now (when it arrived), whatever the clocks say: the
 *  wait before it may be submitted (nbf - iat, s), its lifetime (exp - iat, s; null: none
 *  known, it never expires) and when it expires (a Date.now() time; Infinity for none). */
export function pageTimes(pageToken) {
  const c = claims(pageToken);
  const wait = Math.max(0, (c.nbf || 0) - (c.iat || 0));
  const life = c.exp && c.iat ? Math.max(0, c.exp - c.iat) : null;
  const expiresAt = life === null ? Infinity : Date.now() + life * 1000;
  return { wait, life, expiresAt };
}

/** "an hour", "20 minutes": how long a page (its lifetime in s) is kept, for the notices. */
export function lifetime(seconds) {
  const minutes = Math.max(1, Math.round((seconds || 3600) / 60));
  if (minutes === 60) return "an hour";
  if (minutes % 60 === 0) return `${minutes / 60} hours`;
  return minutes === 1 ? "a minute" : `${minutes} minutes`;
}

function randomId() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes); // works without a secure context, unlike randomUUID
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** This browser's volunteer id, made once and kept. */
export function clientId() {
  let id = localStorage.getItem(CLIENT_KEY);
  if (!id) {
    id = `web.${randomId()}`;
    localStorage.setItem(CLIENT_KEY, id);
  }
  return id;
}

/** The crowd worker's session in this tab ({token, back}) or null. */
export function crowdSession() {
  try {
    const c = JSON.parse(sessionStorage.getItem(CROWD_KEY) || "null");
    if (c && c.token && claims(c.token).exp * 1000 > Date.now() + 60_000) return c;
  } catch {
    /* fall through */
  }
  return null;
}

export function setCrowdSession(value) {
  if (value) sessionStorage.setItem(CROWD_KEY, JSON.stringify(value));
  else sessionStorage.removeItem(CROWD_KEY);
}

/** A user token for the anonymous volunteer (one sign-in per browser session); a crowd
 *  worker's own token while one is working in this tab. */
export async function volunteerToken({ fresh = false } = {}) {
  const crowd = crowdSession();
  if (crowd) return crowd.token;
  const kept = sessionStorage.getItem(VOLUNTEER_TOKEN_KEY);
  if (kept && !fresh) {
    const c = claims(kept);
    if (c.exp && c.exp * 1000 > Date.now() + 60_000) return kept;
  }
  const { data } = await api("/api/v1/login", { client_id: clientId() });
  sessionStorage.setItem(VOLUNTEER_TOKEN_KEY, data.user_token);
  return data.user_token;
}

/** The signed-in researcher ({token, name, role, user_id}) or null. An expired (or unreadable)
 *  sign-in is signed out, RISE's copy in `user_data` too: else RISE's pages on this origin
 *  would keep sending the expired token. */
export function researcher() {
  const kept = localStorage.getItem(RESEARCHER_KEY);
  if (kept === null) return null;
  try {
    const r = JSON.parse(kept);
    if (r && r.token && claims(r.token).exp * 1000 > Date.now()) return r;
  } catch {
    /* fall through */
  }
  setResearcher(null);
  return null;
}

export function setResearcher(value) {
  if (value) {
    localStorage.setItem(RESEARCHER_KEY, JSON.stringify(value));
  } else {
    localStorage.removeItem(RESEARCHER_KEY);
    localStorage.removeItem(RISE_USER_KEY);
  }
}

/** Sign a researcher in by password; returns the stored record. */
export async function signIn(name, password) {
  const { data } = await api("/api/v1/login_password", { name, password });
  const info = (await api("/api/v1/get_user_info", { user_token: data.user_token })).data;
  const record = { token: data.user_token, name: info.name, role: info.role, user_id: info.user_id };
  setResearcher(record);
  localStorage.setItem(RISE_USER_KEY, JSON.stringify(data)); // login's answer, as RISE kept it
  return record;
}

/** The researcher token if one is signed in and (still) a researcher; else null. */
export async function researcherToken() {
  const r = researcher();
  if (!r) return null;
  try {
    const info = (await api("/api/v1/get_user_info", { user_token: r.token })).data;
    if (info.client_type !== 0) return null;
    return r.token;
  } catch (error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) setResearcher(null);
    if (error instanceof ApiError) return null;
    throw error;
  }
}

/** A human sentence for a failed call. */
export function describe(error) {
  if (error instanceof ApiError) return error.message;
  return "The server could not be reached. Check your connection and try again.";
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
