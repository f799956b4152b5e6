// The upload form: a resumable upload (tus-js-client, vendored) with two real progress bars,
// the bytes this browser has sent, then the server's processing (its progress feed, read
// with EventSource). A cut connection is retried from the server's offset; a file chosen
// again after a reload resumes too (tus-js-client keeps the upload's URL in localStorage).
// When the media is ready it is announced ("streamverse:media") so the video list reloads.

import "./vendor/tus-js-client-4.3.1.min.js";  // sets window.tus (UMD build)
import { $, announce, api, authHeaders, showError, state } from "./core.js";

const tus = window.tus;
const slot = $("#upload-slot");
slot.innerHTML = `
  <h2>Upload</h2>
  <form id="upload" aria-label="Upload a video or audio file">
    <label>File <input type="file" name="file" accept="video/*,audio/*" required></label>
    <label>Title <input name="title" maxlength="200" placeholder="the file's name"></label>
    <label>Description <textarea name="description" maxlength="5000" rows="2"></textarea></label>
    <div class="upload-buttons">
      <button>Upload</button>
      <button type="button" class="upload-cancel" hidden>Cancel</button>
    </div>
  </form>
  <div class="upload-progress" hidden>
    <label>Sent <progress id="upload-sent" max="100" value="0"></progress>
      <span class="upload-sent-text">0%</span></label>
    <label>Processed <progress id="upload-processed" max="100" value="0"></progress>
      <span class="upload-processed-text">0%</span></label>
  </div>
  <p id="upload-message" aria-live="polite"></p>`;

const form = slot.querySelector("#upload");
const button = form.querySelector("button:not([type])");
const cancel = form.querySelector(".upload-cancel");
let current = null;  // { upload, feed }

function say(text) { $("#upload-message").textContent = text; }

function bar(name, fraction) {
  const percent = Math.max(0, Math.min(100, Math.round(fraction * 100)));
  slot.querySelector(`#upload-${name}`).value = percent;
  slot.querySelector(`.upload-${name}-text`).textContent = `${percent}%`;
}

function megabytes(bytes) { return `${(bytes / 1e6).toFixed(1)} MB`; }

export function failure(error) {
  // A tus-js-client error in words: the server's own sentence when it sent one.
  const response = error && error.originalResponse;
  if (!response) {
    return "The connection to the server was cut and could not be resumed. Choose the file " +
      "again and press Upload: it continues where it stopped.";
  }
  const status = response.getStatus();
  let detail = "";
  try { detail = JSON.parse(response.getBody()).detail || ""; } catch { detail = ""; }
  if (status === 401) return "Sign up first (top right), then upload.";
  if (status === 413) return `This file is too large for the server: ${detail}`;
  if (status === 415) return `This file cannot be uploaded: ${detail}`;
  if (status === 410) return "This upload expired or was cancelled; upload the file again.";
  return detail ? `Upload failed: ${detail}` : `Upload failed (HTTP ${status}).`;
}

function finish(message) {
  if (current && current.feed) current.feed.close();
  current = null;
  button.disabled = false;
  cancel.hidden = true;
  if (message !== undefined) say(message);
}

function follow(uploadId) {
  // The server's side: bytes it received, then validating, processing, ready or failed.
  const feed = new EventSource(`/uploads/${uploadId}/progress`);
  current.feed = feed;
  feed.addEventListener("progress", async (event) => {
    const progress = JSON.parse(event.data);
    if (progress.state === "validating") say("Sent. The server is checking the file…");
    if (progress.state === "processing") {
      bar("processed", progress.processed || 0);
      say("Checked. The server is preparing it for streaming…");
    }
    if (progress.state === "failed") finish(`The server refused the file: ${progress.reason}`);
    if (progress.state === "ready") {
      bar("sent", 1);
      bar("processed", 1);
      finish();
      try {
        const media = await api("GET", `/videos/${progress.media_id}/info`);
        say(`Ready: ${media.title}`);
        form.reset();
        announce("media", media);
      } catch (error) {
        showError(error);
      }
    }
  });
  feed.addEventListener("upload_ended", () => feed.close());
}

function start(file, title, description) {
  const upload = new tus.Upload(file, {
    endpoint: "/uploads/tus/",
    headers: authHeaders(),
    metadata: { filename: file.name, title, description },
    retryDelays: [0, 1000, 3000, 5000],
    removeFingerprintOnSuccess: true,
    onUploadUrlAvailable() { follow(upload.url.split("/").pop()); },
    onProgress(sent, total) {
      bar("sent", total ? sent / total : 0);
      say(`Sending ${megabytes(sent)} of ${megabytes(total)}…`);
    },
    onShouldRetry(error) {
      const status = error.originalResponse ? error.originalResponse.getStatus() : 0;
      const retry = (status < 400 || status === 409 || status === 423 || status >= 500) &&
        navigator.onLine !== false;
      if (retry) say("The connection was cut. Resuming where it stopped…");
      return retry;
    },
    onError(error) { finish(failure(error)); },
    onSuccess() { bar("sent", 1); },
  });
  current = { upload, feed: null };
  return upload.findPreviousUploads().then((previous) => {
    if (previous.length) {
      upload.resumeFromPreviousUpload(previous[0]);
      say("Resuming an earlier upload of this file…");
    }
    upload.start();
  });
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (current) return;  // one upload at a time: a double click must not start two
  showError(null);
  if (!state.user) { say("Sign up first (top right), then upload."); return; }
  const data = new FormData(form);
  const file = data.get("file");
  if (!file || !file.size) { say("Choose a file first."); return; }
  button.disabled = true;
  cancel.hidden = false;
  slot.querySelector(".upload-progress").hidden = false;
  bar("sent", 0);
  bar("processed", 0);
  const title = String(data.get("title") || "").trim();
  start(file, title, String(data.get("description") || "")).catch((error) => finish(failure(error)));
});

cancel.addEventListener("click", () => {
  if (!current) return;
  const { upload } = current;
  finish("Upload cancelled.");
  upload.abort(true).catch(() => {});  // true: also DELETE it on the server (termination)
});
