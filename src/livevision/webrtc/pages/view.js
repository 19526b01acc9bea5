// The server's own view over WebRTC, falling back to the MJPEG stream when WebRTC cannot connect.

const remote = document.getElementById("remote");
const figuresLine = document.getElementById("figures");
const session = (window.livevision = {state: "connecting", error: null, pc: null, figures: {}});
const returnedFps = frameRateMeter(remote);

function fallBackToMjpeg(why) {
  if (session.state === "mjpeg") return;
  if (session.pc) session.pc.close();
  session.pc = null;
  session.state = "mjpeg";
  session.error = why;
  const img = document.createElement("img");
  img.alt = "livevision live view";
  img.src = "/stream.mjpg" + (TOKEN ? `?token=${encodeURIComponent(TOKEN)}` : "");
  remote.replaceWith(img);
  figuresLine.textContent = "";
}

async function start() {
  const pc = (session.pc = new RTCPeerConnection({iceServers: CONFIG.iceServers}));
  pc.addTransceiver("video", {direction: "recvonly"});
  pc.ontrack = (event) => { remote.srcObject = new MediaStream([event.track]); };
  pc.onconnectionstatechange = () => {
    if (pc.connectionState === "connected") session.state = "live";
    if (pc.connectionState === "failed") fallBackToMjpeg("the WebRTC connection failed");
  };
  setTimeout(() => { if (session.state === "connecting") fallBackToMjpeg("WebRTC did not connect in 10 s"); }, 10000);
  try {
    await negotiate(pc, {});
  } catch (e) {
    fallBackToMjpeg(e.message);
  }
}

setInterval(async () => {
  if (session.state !== "live" || !session.pc) return;
  session.figures = {...(await transportFigures(session.pc)), fps: returnedFps()};
  const f = session.figures;
  figuresLine.textContent = `${fmt(f.fps, "fps")} · round trip ${fmt(f.rttMs, "ms")}`;
}, 1000);
window.addEventListener("pagehide", () => session.pc && session.pc.close());
start();
