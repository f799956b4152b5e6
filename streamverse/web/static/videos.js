// The media list (videos and audio), a page at a time, newest first: GET /videos?offset=.
// Clicking an item announces "streamverse:play" with the media; player.js opens it. The
// list reloads when the upload page announces "streamverse:media" (a new upload).

import { $, announce, api, showError } from "./core.js";

const slot = $("#videos-slot");
const view = { offset: 0, request: 0, page: null };

slot.innerHTML = `
  <h2>Videos</h2>
  <ul id="videos" aria-live="polite"></ul>
  <nav class="pager" aria-label="Video pages">
    <button type="button" data-page="newer">Newer</button>
    <span class="pager-position"></span>
    <button type="button" data-page="older">Older</button>
  </nav>`;

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  const whole = Math.round(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

function item(media) {
  const entry = document.createElement("li");
  entry.dataset.mediaId = media.id;
  const open = document.createElement("button");  // a button, so the keyboard reaches it
  open.type = "button";
  open.className = "link";
  const length = duration(media.duration_seconds);
  open.textContent = [media.title, media.kind, length].filter(Boolean).join(" · ");
  open.addEventListener("click", () => announce("play", media));
  const badge = document.createElement("span");
  badge.className = `badge ${media.status}`;
  badge.textContent = media.status;
  if (media.reason) badge.title = media.reason;
  entry.append(open, badge);
  return entry;
}

export async function loadVideos(offset = view.offset) {
  // Only the newest load may render: an older answer arriving last would show a stale page.
  const request = ++view.request;
  const page = await api("GET", `/videos?offset=${Math.max(0, offset)}`);
  if (request !== view.request) return;
  if (page.items.length === 0 && page.offset > 0 && page.total > 0) {
    return loadVideos(Math.max(0, page.total - page.limit));  // the page emptied: go back
  }
  view.offset = page.offset;
  view.page = page;
  $("#videos").replaceChildren(...page.items.map(item));
  const last = page.offset + page.items.length;
  slot.querySelector(".pager-position").textContent =
    page.total ? `${page.offset + 1}–${last} of ${page.total}` : "";
  slot.querySelector("[data-page=newer]").disabled = page.offset === 0;
  slot.querySelector("[data-page=older]").disabled = page.next_offset === null;
}

slot.querySelector("[data-page=newer]").addEventListener("click", () =>
  loadVideos(view.offset - (view.page ? view.page.limit : 0)).catch(showError));
slot.querySelector("[data-page=older]").addEventListener("click", () => {
  if (view.page && view.page.next_offset !== null) loadVideos(view.page.next_offset).catch(showError);
});
// A new upload is newest: show the first page, where it is.
document.addEventListener("streamverse:media", () => loadVideos(0).catch(showError));
document.addEventListener("streamverse:media-changed", () => loadVideos().catch(showError));

loadVideos(0).catch(showError);
