// StreamVerse in the browser: EventSource for SSE feeds, fetch() streaming for NDJSON.
// The token from POST /users lives in localStorage and goes out as a Bearer header.
// Feature modules (chat, uploads, the player) listen for the events core.js announces.

import { $, announce, api, authHeaders, onSubmit, showError, state } from "./core.js";

const MAX_COMMENTS = 200;  // a long stream must not grow the page without limit

let forgotten = false;  // a stored sign-in this server did not know (see forgetUnknownUser)

function renderUser() {
  const anonymous = forgotten
    ? "Not signed in: this server no longer knows your earlier sign-in (its data may have " +
      "been reset); sign up again"
    : "Not signed in";
  $("#whoami").textContent = state.user ? `Signed in as ${state.user.name}` : anonymous;
}

async function loadStreams() {
  // Several loads can overlap (a click and a stats event): only the newest one may render,
  // or an older answer arriving last would show a stale status.
  const request = ++state.streamsRequest;
  const streams = await api("GET", "/streams");
  if (request !== state.streamsRequest) return;
  const list = $("#streams");
  list.replaceChildren(...streams.map((stream) => {
    const item = document.createElement("li");
    item.dataset.streamId = stream.id;
    const title = document.createElement("button");  // a button, so the keyboard reaches it
    title.type = "button";
    title.className = "link";
    title.textContent = `${stream.title} · ${stream.category}`;
    const badge = document.createElement("span");
    badge.className = `badge ${stream.status}`;
    badge.textContent = stream.status;
    item.append(title, badge);
    item.addEventListener("click", () => watch(stream.id).catch(showError));
    return item;
  }));
}

function followGlobalStats() {
  const source = new EventSource("/streams/global-stats/live");
  const render = (event) => {
    const stats = JSON.parse(event.data);
    const trending = stats.trending.map((s) => `${s.title} (${s.viewers} watching)`).join(", ");
    $("#global-stats").textContent =
      `${stats.active_streams} live, ${stats.total_viewers} watching. ` +
      (trending ? `Trending: ${trending}` : "Nothing trending yet.");
  };
  for (const type of ["stats", "reset"]) source.addEventListener(type, render);
  // Reload the list when a stream starts or ends, not on every like or viewer.
  source.addEventListener("stats", (event) => {
    const active = JSON.parse(event.data).active_streams;
    if (active === state.activeStreams) return;
    state.activeStreams = active;
    loadStreams().catch(showError);
  });
}

function stopWatching() {
  for (const stop of state.feeds) stop();
  state.feeds = [];
  if (state.watching) announce("leave", state.watching);
}

function showStatus(status) {
  $("#watch-status").textContent = status;
  $("#watch-status").className = `badge ${status}`;
  // Offer only the move the server allows: scheduled -> live -> ended.
  $("#go-live").disabled = status !== "scheduled";
  $("#end-stream").disabled = status !== "live";
  for (const control of $("#comment").elements) control.disabled = status === "ended";
}

async function watch(streamId) {
  // Stop the old feeds only once the new stream is known, and only for the latest click:
  // two quick clicks must not leave two streams' feeds writing into one panel.
  const request = ++state.watchRequest;
  const stream = await api("GET", `/streams/${streamId}`);
  if (request !== state.watchRequest) return;
  stopWatching();
  state.watching = stream;
  $("#watch").hidden = false;
  $("#watch-title").textContent = stream.title;
  showStatus(stream.status);
  $(".owner-controls").hidden = !(state.user && state.user.id === stream.owner_id);
  $("#comments").replaceChildren();
  history.replaceState(null, "", `#stream=${streamId}`);  // reload or share: same stream
  followAnalytics(streamId);
  followComments(streamId);
  announce("watch", stream);
}

function followAnalytics(streamId) {
  // EventSource reconnects by itself and sends Last-Event-ID: the server replays what we missed.
  const source = new EventSource(`/streams/${streamId}/analytics/live`);
  const render = (event) => {
    const numbers = JSON.parse(event.data);
    if (!("viewers" in numbers)) return;
    showStatus(numbers.status);
    const shown = { viewers: numbers.viewers, peak: numbers.peak_viewers, likes: numbers.likes,
                    "comments/min": numbers.comments_per_minute };
    $("#analytics").replaceChildren(...Object.entries(shown).flatMap(([name, value]) => {
      const term = document.createElement("dt");
      term.textContent = name;
      const definition = document.createElement("dd");
      definition.textContent = value;
      definition.dataset.metric = name;
      return [term, definition];
    }));
  };
  for (const type of ["analytics", "reset"]) source.addEventListener(type, render);
  source.addEventListener("stream_ended", () => source.close());
  state.feeds.push(() => source.close());
}

async function followComments(streamId) {
  // NDJSON over fetch. If the connection drops (a network blip, a server restart), reconnect
  // with ?since=<last comment id>: the server replays exactly what was missed.
  const controller = new AbortController();
  state.feeds.push(() => controller.abort());
  let lastId = null;
  for (let attempt = 0; !controller.signal.aborted; attempt++) {
    let ended = false;
    try {
      const query = lastId === null ? "" : `?since=${lastId}`;
      const response = await fetch(`/streams/${streamId}/comments/live${query}`,
        { headers: authHeaders(), signal: controller.signal });
      if (!response.ok) {  // e.g. a token the server no longer knows: say so, do not go quiet
        const data = await response.json().catch(() => ({}));
        throw new Error(data.detail || `comments: ${response.status} ${response.statusText}`);
      }
      attempt = 0;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const message = buffer.slice(0, newline) && JSON.parse(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
          if (!message) continue;
          if (message.type === "comment") lastId = message.data.id;
          if (message.type === "reset") $("#comments").replaceChildren();
          if (message.type === "end") ended = message.data.reason === "stream ended";
          showComment(message);
        }
      }
    } catch (error) {
      if (error.name === "AbortError") return;
      showError(error);
      if (attempt >= 5) return;  // the server keeps refusing: stop, the message says why
    }
    if (ended) return;  // the stream is over; nothing more will come
    await new Promise((resume) => setTimeout(resume, Math.min(1000 * 2 ** attempt, 15000)));
  }
}

function showComment(message) {
  if (message.type !== "comment") return;
  const item = document.createElement("li");
  item.textContent = `${message.data.user_name}: ${message.data.text}`;
  const list = $("#comments");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  while (list.children.length > MAX_COMMENTS) list.firstElementChild.remove();
  if (atBottom) item.scrollIntoView({ block: "nearest" });  // don't yank a reader back down
}

onSubmit("#signup", async (form) => {
  state.user = await api("POST", "/users", { name: form.get("name") });
  localStorage.setItem("streamverse.user", JSON.stringify(state.user));
  renderUser();
  announce("user", state.user);
  // Reopen the watched stream as the new user: owner controls and presence follow the token.
  if (state.watching) await watch(state.watching.id);
});
onSubmit("#create-stream", async (form) => {
  const stream = await api("POST", "/streams/create",
    { title: form.get("title"), category: form.get("category") });
  await loadStreams();
  await watch(stream.id);
});
onSubmit("#comment", async (form) => {
  await api("POST", `/streams/${state.watching.id}/comments`, { text: form.get("text") });
});

const setStatus = (status) => async () => {
  try {
    const stream = await api("PUT", `/streams/${state.watching.id}/status`, { status });
    if (state.watching && state.watching.id === stream.id) showStatus(stream.status);
    await loadStreams();
  } catch (error) { showError(error); }
};
$("#go-live").addEventListener("click", setStatus("live"));
$("#end-stream").addEventListener("click", setStatus("ended"));
$("#like").addEventListener("click", () =>
  api("POST", `/streams/${state.watching.id}/likes`).catch(showError));

async function forgetUnknownUser() {
  // A token kept from before the server's data was reset is unknown to it now. Sent along,
  // it would make every feed answer 401 (and show nothing): forget it and say so.
  if (!state.user) return;
  const response = await fetch("/users/me", { headers: authHeaders() });
  if (response.status !== 401) return;
  localStorage.removeItem("streamverse.user");
  state.user = null;
  forgotten = true;
}

forgetUnknownUser().catch(() => {}).finally(() => {
  renderUser();
  loadStreams().catch(showError);
  followGlobalStats();
  const linked = new URLSearchParams(location.hash.slice(1)).get("stream");
  if (linked) watch(linked).catch(showError);
});
