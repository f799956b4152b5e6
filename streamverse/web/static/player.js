// The player: a <video> or <audio> for one media item, rendered into #player-slot.
//
// "Original" plays the uploaded file itself (progressive download: the browser seeks with
// HTTP Range requests, the server answers 206). "HLS" plays the packaged version (playlist
// and segments): natively where the browser has HLS (Safari), else with the vendored
// hls.js, loaded only then. With no stream open, the watch section shows only the player
// (a media view); with a stream open, the player sits on that stream's watch page. Opening
// a stream closes the player; "Close" ends playback. #video=<id> in the URL reopens it.

import { $, announce, api, showError } from "./core.js";

const slot = $("#player-slot");
const watch = $("#watch");
const player = { media: null, hls: null, request: 0 };

const MEDIA_ERRORS = {
  1: "playback was stopped",
  2: "the network failed while loading it",
  3: "it could not be decoded",
  4: "this browser cannot play this format",
};

function say(text) {
  const status = slot.querySelector(".player-status");
  if (status) status.textContent = text;
}

function stopHls() {
  if (player.hls) player.hls.destroy();
  player.hls = null;
}

export function closePlayer() {
  stopHls();
  const element = slot.querySelector("video, audio");
  if (element) { element.pause(); element.removeAttribute("src"); element.load(); }
  slot.replaceChildren();
  player.media = null;
  if (watch.dataset.view === "media") { watch.hidden = true; delete watch.dataset.view; }
  if (location.hash.startsWith("#video=")) history.replaceState(null, "", location.pathname);
}

function nativeHls(element) {
  return element.canPlayType("application/vnd.apple.mpegurl") !== "";
}

async function playHls(element, media) {
  stopHls();
  if (nativeHls(element)) {
    element.src = media.hls_url;
    say("Playing the HLS version (native HLS).");
    return;
  }
  const { default: Hls } = await import("./vendor/hls/hls.light.min.mjs");
  if (!Hls.isSupported()) throw new Error("This browser can play neither HLS nor its fallback.");
  const hls = new Hls();
  player.hls = hls;
  hls.on(Hls.Events.MANIFEST_PARSED, (_, data) =>
    say(`Playing the HLS version with hls.js (${data.levels.length} rendition).`));
  hls.on(Hls.Events.ERROR, (_, data) => {
    if (data.fatal) say(`The HLS version failed: ${data.details}.`);
  });
  hls.loadSource(media.hls_url);
  hls.attachMedia(element);
}

function playOriginal(element, media) {
  stopHls();
  element.src = media.url;
  say("Playing the original file (seeking asks the server for byte ranges).");
}

function render(media) {
  const isVideo = ["mp4", "mov", "webm", "mkv"].includes(media.kind);
  const figure = document.createElement("figure");
  figure.className = "player";
  const element = document.createElement(isVideo ? "video" : "audio");
  element.controls = true;
  element.preload = "metadata";
  element.playsInline = true;
  element.setAttribute("aria-label", media.title);
  element.addEventListener("error", () => {
    if (!element.error || !element.getAttribute("src")) return;
    say(`This file cannot be played here: ${MEDIA_ERRORS[element.error.code] || "unknown error"}` +
        (media.hls_url ? ". Try the HLS version." : "."));
  });
  const caption = document.createElement("figcaption");
  const title = document.createElement("strong");
  title.className = "player-title";
  title.textContent = media.title;
  const status = document.createElement("p");
  status.className = "player-status";
  status.setAttribute("aria-live", "polite");
  const controls = document.createElement("div");
  controls.className = "player-controls";
  const label = document.createElement("label");
  label.textContent = "Source ";
  const source = document.createElement("select");
  source.name = "source";
  source.add(new Option("Original (Range)", "original"));
  source.add(new Option(media.hls_url ? "HLS" : `HLS (${media.status})`, "hls"));
  source.options[1].disabled = !media.hls_url;
  label.append(source);
  const refresh = document.createElement("button");
  refresh.type = "button";
  refresh.textContent = "Check HLS again";
  refresh.hidden = media.status !== "processing";
  refresh.addEventListener("click", () => openMedia(media.id, source.value).catch(showError));
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "Close";
  close.addEventListener("click", closePlayer);
  controls.append(label, refresh, close);
  caption.append(title, controls, status);
  figure.append(element, caption);
  slot.replaceChildren(figure);
  const choose = () => {
    const chosen = source.value === "hls" ? playHls(element, media) : playOriginal(element, media);
    Promise.resolve(chosen).catch((error) => say(String(error.message || error)));
  };
  source.addEventListener("change", choose);
  // The original plays wherever the browser knows its type (MP4, WebM, MP3, ...); an MKV
  // or MOV it may not know plays from its HLS version when there is one.
  const playable = element.canPlayType(media.content_type) !== "";
  source.value = !playable && media.hls_url ? "hls" : "original";
  choose();
  if (media.status === "processing") say(`${status.textContent} The HLS version is being prepared.`);
  if (media.status === "failed") say(`${status.textContent} No HLS version: ${media.reason || "packaging failed"}.`);
}

export async function openMedia(mediaId, preferred) {
  const request = ++player.request;
  const media = await api("GET", `/videos/${mediaId}/info`);
  if (request !== player.request) return;
  const changed = player.media && player.media.id === media.id && player.media.status !== media.status;
  closePlayer();
  player.media = media;
  if (watch.hidden) { watch.hidden = false; watch.dataset.view = "media"; }
  render(media);
  if (preferred === "hls" && media.hls_url) {
    slot.querySelector("select[name=source]").value = "hls";
    slot.querySelector("select[name=source]").dispatchEvent(new Event("change"));
  }
  history.replaceState(null, "", `#video=${media.id}`);
  if (changed) announce("media-changed", media);
  slot.scrollIntoView({ block: "nearest" });
}

document.addEventListener("streamverse:play", (event) => openMedia(event.detail.id).catch(showError));
document.addEventListener("streamverse:watch", () => {
  delete watch.dataset.view;
  if (player.media) closePlayer();
});

const linked = new URLSearchParams(location.hash.slice(1)).get("video");
if (linked) openMedia(linked).catch(showError);
