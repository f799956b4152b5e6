// Shared by every part of the page: the signed-in user, the API helper, errors in words,
// and the events that tell feature modules (chat, uploads, player) what is being watched.
//   document.addEventListener("streamverse:watch", (e) => e.detail)  // a stream opened
//   document.addEventListener("streamverse:leave", ...)               // it was closed
//   document.addEventListener("streamverse:user", ...)                // signed in as someone

export const $ = (selector) => document.querySelector(selector);
export const state = { user: JSON.parse(localStorage.getItem("streamverse.user") || "null"),
                       watching: null, feeds: [], watchRequest: 0, streamsRequest: 0,
                       activeStreams: null };

export function authHeaders() {
  return state.user ? { Authorization: `Bearer ${state.user.token}` } : {};
}

export function errorText(status, data, statusText = "") {
  // FastAPI's 422 lists the fields that failed; every other error has a sentence in detail.
  if (typeof data.detail === "string") return data.detail;
  const fields = (data.detail || []).map((error) => `${error.loc.at(-1)}: ${error.msg}`);
  return fields.join("; ") || `${status} ${statusText}`.trim();
}

export async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    headers: { "Content-Type": "application/json", ...authHeaders() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && !state.user) throw new Error("Sign up first (top right).");
  if (!response.ok) throw new Error(errorText(response.status, data, response.statusText));
  return data;
}

export function showError(error) {
  $("#error").textContent = error ? String(error.message || error) : "";
}

export function announce(name, detail) {
  document.dispatchEvent(new CustomEvent(`streamverse:${name}`, { detail }));
}

export function onSubmit(selector, handler) {
  const form = typeof selector === "string" ? $(selector) : selector;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = form.querySelector("button");
    if (button.disabled) return;  // still sending: a double click must not send twice
    showError(null);
    button.disabled = true;
    try {
      await handler(new FormData(form));
      form.reset();
    } catch (error) {
      showError(error);
    } finally {
      button.disabled = false;
    }
  });
}
