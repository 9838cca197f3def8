// The API with the caller's key. The key is asked for once (login form) and kept in
// sessionStorage (this tab, until it closes), or in localStorage when "remember" is ticked.

const KEY = "order-engine.apiKey";

export class ApiError extends Error {
  constructor(status, code, message, field) {
    super(message);
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export const auth = {
  key() {
    return sessionStorage.getItem(KEY) ?? localStorage.getItem(KEY);
  },
  save(key, remember) {
    this.forget();
    (remember ? localStorage : sessionStorage).setItem(KEY, key);
  },
  forget() {
    sessionStorage.removeItem(KEY);
    localStorage.removeItem(KEY);
  },
  onUnauthorized: () => {},
};

/** fetch with the key; JSON in and out; an ApiError for any error answer. */
export async function api(path, { method = "GET", body, headers = {} } = {}) {
  const init = { method, headers: { Accept: "application/json", ...headers } };
  const key = auth.key();
  if (key) init.headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "unreachable", `the engine did not answer (${err.message})`);
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = data?.error ?? {};
    if (response.status === 401) auth.onUnauthorized();
    throw new ApiError(response.status, error.code ?? "error",
      error.message ?? `${response.status} ${response.statusText}`, error.field);
  }
  return data;
}

export const query = (params) =>
  new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== ""));
