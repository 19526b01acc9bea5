"use strict";
// What both pages share: the token, the offer/answer exchange, and the figures read in the browser.

const TOKEN = new URLSearchParams(location.search).get("token");

function jsonHeaders() {
  const headers = {"Content-Type": "application/json"};
  if (TOKEN) headers["Authorization"] = "Bearer " + TOKEN;
  return headers;
}

// Every candidate goes in the offer (the server answers in one round trip): wait for gathering to end,
// at most 2 s (a host with many interfaces may take longer, and host candidates are enough on a LAN).
function gatheringDone(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const check = () => { if (pc.iceGatheringState === "complete") resolve(); };
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, 2000);
  });
}

// Offer, POST /offer, answer. Throws an Error with the server's message (full, wrong token, ...).
async function negotiate(pc, extra) {
  await pc.setLocalDescription(await pc.createOffer());
  await gatheringDone(pc);
  const body = JSON.stringify({sdp: pc.localDescription.sdp, type: pc.localDescription.type, ...extra});
  let response;
  try {
    response = await fetch("/offer", {method: "POST", headers: jsonHeaders(), body});
  } catch (e) {  // no answer at all: the server is not running (or not reachable from here)
    throw new Error("The server cannot be reached: is livevision serve still running?");
  }
  const text = await response.text();
  let answer = null;
  try { answer = JSON.parse(text); } catch (e) { /* a plain-text error (401, 403) */ }
  if (!response.ok) {
    const error = new Error((answer && answer.error) || text.trim() || `HTTP ${response.status}`);
    error.status = response.status;
    throw error;
  }
  await pc.setRemoteDescription({sdp: answer.sdp, type: answer.type});
  return answer;
}

// Frames shown per second by a <video>, over the last 2 s.
function frameRateMeter(video) {
  const times = [];
  const tick = (now) => {
    times.push(now);
    while (times.length && now - times[0] > 2000) times.shift();
    video.requestVideoFrameCallback(tick);
  };
  if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(tick);
  return () => (times.length > 1 ? (1000 * (times.length - 1)) / (times[times.length - 1] - times[0]) : null);
}

// The network round trip and the receiver's jitter buffer (ms), and the bytes both ways, from getStats.
async function transportFigures(pc) {
  const figures = {rttMs: null, jitterBufferMs: null, bytesReceived: 0, bytesSent: 0};
  for (const s of (await pc.getStats()).values()) {
    if (s.type === "candidate-pair" && s.nominated && s.currentRoundTripTime !== undefined) {
      figures.rttMs = 1000 * s.currentRoundTripTime;
    }
    if (s.type === "inbound-rtp" && s.kind === "video") {
      figures.bytesReceived += s.bytesReceived || 0;
      if (s.jitterBufferEmittedCount) figures.jitterBufferMs = (1000 * s.jitterBufferDelay) / s.jitterBufferEmittedCount;
    }
    if (s.type === "outbound-rtp" && s.kind === "video") figures.bytesSent += s.bytesSent || 0;
  }
  return figures;
}

function fmt(value, unit) {
  return value === null || value === undefined ? "–" : `${Math.round(value)} ${unit}`;
}
