// The chat panel of the watch page: one WebSocket per watched stream (docs/chat-protocol.md).
// Joins when a stream is opened (core.js's "streamverse:watch"), signs in with the token in
// the first message, shows the history, presence and moderation, and reconnects by itself
// with ?since=<last id> so nothing is missed. Moderators get delete and timeout buttons.

import { $, state } from "./core.js";

const MAX_MESSAGES = 200;  // a long stream must not grow the page without limit
const PING_EVERY_MS = 25000;  // a browser cannot send protocol pings: ask for a pong instead
const PONG_WITHIN_MS = 10000;
const GIVE_UP = new Set([1000, 1008, 1009]);  // ended, refused (unknown, banned), too big

let chat = null;  // the open room: { streamId, socket, lastId, role, ... }

function panel() {
  const slot = $("#chat-slot");
  if (!slot.firstElementChild) {
    slot.innerHTML = `
      <section class="chat" aria-label="Chat">
        <h3>Chat <span class="chat-presence" aria-live="polite"></span></h3>
        <p class="chat-status" role="status"></p>
        <ol class="chat-messages"></ol>
        <form class="chat-form" aria-label="Send a chat message">
          <label for="chat-text">Message</label>
          <input id="chat-text" name="text" maxlength="500" autocomplete="off" required>
          <button>Chat</button>
        </form>
        <p class="chat-error" role="alert"></p>
        <fieldset class="chat-modes" hidden>
          <legend>Moderation</legend>
          <label>Slow mode <select name="slow_seconds">
            <option value="0">off</option><option value="5">5 s</option>
            <option value="30">30 s</option><option value="120">2 min</option>
          </select></label>
          <label><input type="checkbox" name="emote_only"> Emote only</label>
          <label><input type="checkbox" name="links_off"> No links</label>
        </fieldset>
      </section>`;
    slot.querySelector(".chat-form").addEventListener("submit", (event) => {
      event.preventDefault();
      send(slot.querySelector("#chat-text").value);
    });
    const modes = slot.querySelector(".chat-modes");
    modes.addEventListener("change", () => command({
      type: "modes",
      slow_seconds: Number(modes.elements.slow_seconds.value),
      emote_only: modes.elements.emote_only.checked,
      links_allowed: !modes.elements.links_off.checked,
    }));
  }
  return slot;
}

const el = (selector) => panel().querySelector(selector);

function status(text) { el(".chat-status").textContent = text; }
function showError(text) { el(".chat-error").textContent = text || ""; }

function join(stream) {
  leave();
  chat = { streamId: stream.id, socket: null, lastId: null, role: "viewer", refs: 0,
           pending: new Map(), attempt: 0, timers: [], over: stream.status === "ended" };
  el(".chat-messages").replaceChildren();
  showError("");
  connect(chat);
}

function leave() {
  if (!chat) return;
  const old = chat;
  chat = null;
  for (const timer of old.timers) clearTimeout(timer);
  if (old.socket) old.socket.close(1000);
}

function connect(room) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const since = room.lastId === null ? "" : `?since=${room.lastId}`;
  const socket = new WebSocket(`${scheme}://${location.host}/streams/${room.streamId}/chat${since}`);
  room.socket = socket;
  status(room.lastId === null ? "Joining…" : "Reconnecting…");
  socket.addEventListener("open", () => {
    if (state.user) command({ type: "auth", token: state.user.token });
    ping(room);
  });
  socket.addEventListener("message", (event) => {
    if (chat !== room) return;
    for (const line of event.data.split("\n")) receive(room, JSON.parse(line));
  });
  socket.addEventListener("close", (event) => closed(room, event));
  renderForm(room);
}

function ping(room) {
  room.timers.push(setTimeout(() => {
    if (chat !== room || room.socket.readyState !== WebSocket.OPEN) return;
    const ref = command({ type: "ping" });
    room.timers.push(setTimeout(() => {
      if (room.pending.has(ref)) room.socket.close(4000, "no pong");  // dead: reconnect
    }, PONG_WITHIN_MS));
    ping(room);
  }, PING_EVERY_MS));
}

function closed(room, event) {
  if (chat !== room) return;
  room.pending.clear();
  if (GIVE_UP.has(event.code)) {
    status(event.code === 1000 ? "The stream has ended: the chat is closed." : "");
    if (event.code !== 1000) showError(`Chat closed: ${event.reason || event.code}`);
    room.over = true;
    renderForm(room);
    return;
  }
  // 1006 (network), 1011, 1012 (restart), 1013 (too many tabs), 3008 (too slow): come back.
  const delay = Math.min(1000 * 2 ** room.attempt++, 15000);
  status(`Disconnected${event.reason ? ` (${event.reason})` : ""}; reconnecting…`);
  room.timers.push(setTimeout(() => { if (chat === room) connect(room); }, delay));
}

function command(message) {
  if (!chat || !chat.socket || chat.socket.readyState !== WebSocket.OPEN) return null;
  const ref = `c${++chat.refs}`;
  chat.pending.set(ref, message);
  chat.socket.send(JSON.stringify({ ...message, ref }));
  return ref;
}

function send(text) {
  if (!text.trim()) return;
  showError("");
  if (!command({ type: "send", text })) showError("Not connected; reconnecting…");
}

function receive(room, message) {
  if (message.id !== undefined && message.id !== null) room.lastId = message.id;
  const data = message.data;
  switch (message.type) {
    case "welcome":
      room.attempt = 0;
      status("");
      presence(data.viewers);
      renderModes(data.modes);
      break;
    case "history":
      el(".chat-messages").replaceChildren();
      for (const chatMessage of data.messages) show(room, chatMessage);
      room.lastId = data.last_id;
      break;
    case "reset":
      room.lastId = data.last_id;  // a fresh history follows
      break;
    case "authenticated":
      room.role = data.role;
      room.pending.delete(data.ref);
      renderForm(room);
      el(".chat-messages").querySelectorAll("li[data-id]").forEach((item) => addControls(room, item));
      break;
    case "chat": show(room, message); break;
    case "presence": presence(data.viewers); break;
    case "moderation": moderation(room, data); break;
    case "ended":
      room.over = true;
      notice("The stream has ended.");
      break;
    case "ack": case "pong": {
      const sent = room.pending.get(data.ref);
      const box = el("#chat-text");  // cleared only if it still holds what was sent:
      if (sent?.type === "send" && box.value === sent.text) box.value = "";  // not a new draft
      room.pending.delete(data.ref);
      break;
    }
    case "error": {
      room.pending.delete(data.ref);
      const wait = data.retry_after ? ` (try again in ${Math.ceil(data.retry_after)} s)` : "";
      showError(`${data.detail}${wait}`);
      break;
    }
  }
}

function presence(viewers) {
  el(".chat-presence").textContent = `· ${viewers} watching`;
}

function show(room, message) {
  const item = document.createElement("li");
  item.dataset.id = message.id;
  item.dataset.userId = message.data.user_id;
  const name = document.createElement("b");
  name.textContent = message.data.user_name;
  if (message.data.role !== "viewer") name.title = message.data.role;
  const text = document.createElement("span");
  text.className = "chat-text";
  text.textContent = `: ${message.data.text}`;
  item.append(name, text);
  addControls(room, item);
  append(item);
}

function notice(text) {
  const item = document.createElement("li");
  item.className = "chat-notice";
  item.textContent = text;
  append(item);
}

function append(item) {
  const list = el(".chat-messages");
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  list.append(item);
  while (list.children.length > MAX_MESSAGES) list.firstElementChild.remove();
  if (atBottom) item.scrollIntoView({ block: "nearest" });
}

function addControls(room, item) {
  const moderates = room.role === "owner" || room.role === "moderator";
  if (!moderates || item.querySelector(".chat-controls") || !state.user) return;
  if (item.dataset.userId === state.user.id) return;
  const controls = document.createElement("span");
  controls.className = "chat-controls";
  const button = (label, message) => {
    const control = document.createElement("button");
    control.type = "button";
    control.textContent = label;
    control.addEventListener("click", () => { showError(""); command(message); });
    controls.append(control);
  };
  button("Delete", { type: "delete", message_id: Number(item.dataset.id) });
  button("Timeout", { type: "timeout", user_id: item.dataset.userId, seconds: 60 });
  button("Ban", { type: "ban", user_id: item.dataset.userId });
  if (room.role === "owner") {
    button("Make moderator", { type: "moderator", user_id: item.dataset.userId, moderator: true });
  }
  item.append(controls);
}

function moderation(room, action) {
  const target = action.target_name || "a user";
  switch (action.action) {
    case "delete":
      el(`.chat-messages li[data-id="${action.message_id}"]`)?.remove();
      break;
    case "timeout": notice(`${action.actor_name} timed out ${target} for ${action.seconds} s.`); break;
    case "ban": notice(`${action.actor_name} banned ${target}.`); break;
    case "unban": notice(`${action.actor_name} lifted ${target}'s ban.`); break;
    case "modes": renderModes(action.modes); notice(modesText(action.modes)); break;
    case "banned_words": notice(`${action.word_count} words are masked in this chat now.`); break;
    case "moderator_added": notice(`${target} is a moderator now.`); break;
    case "moderator_removed": notice(`${target} is no longer a moderator.`); break;
  }
}

function modesText(modes) {
  const on = [];
  if (modes.slow_seconds) on.push(`slow mode (${modes.slow_seconds} s)`);
  if (modes.emote_only) on.push("emote only");
  if (!modes.links_allowed) on.push("no links");
  return on.length ? `Chat modes: ${on.join(", ")}.` : "Chat modes: none.";
}

function renderModes(modes) {
  const form = el(".chat-modes");
  form.elements.slow_seconds.value = String(modes.slow_seconds);
  form.elements.emote_only.checked = modes.emote_only;
  form.elements.links_off.checked = !modes.links_allowed;
}

function renderForm(room) {
  const input = el("#chat-text");
  const signedIn = Boolean(state.user);
  for (const control of el(".chat-form").elements) control.disabled = !signedIn || room.over;
  input.placeholder = room.over ? "the chat is closed" : signedIn ? "say something" : "sign up to chat";
  el(".chat-modes").hidden = !(room.role === "owner" || room.role === "moderator") || room.over;
}

document.addEventListener("streamverse:watch", (event) => join(event.detail));
document.addEventListener("streamverse:leave", () => leave());
