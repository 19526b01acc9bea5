// The visitor's page: their camera to the server over WebRTC, the annotated video back, the tasks to pick,
// and the figures. window.livevision holds the state (tests and curious visitors read it).

const remote = document.getElementById("remote");
const local = document.getElementById("local");
const message = document.getElementById("message");
const figuresLine = document.getElementById("figures");
const toggle = document.getElementById("toggle");
const session = (window.livevision = {state: "idle", error: null, pc: null, server: {}, figures: {}});
const returnedFps = frameRateMeter(remote);

function say(text) { message.textContent = text || ""; message.style.display = text ? "flex" : "none"; }

function setState(state, error) {
  session.state = state;
  session.error = error || null;
  toggle.textContent = state === "live" || state === "connecting" ? "Stop" : "Start";
  if (error) say(error);
}

function chosenTasks() {
  return [...document.querySelectorAll("input[name=task]:checked")].map((box) => box.value);
}

function showTasks() {
  const holder = document.getElementById("tasks");
  CONFIG.tasks.forEach((entry, i) => {
    const label = document.createElement("label");
    const box = Object.assign(document.createElement("input"), {type: "checkbox", name: "task", value: entry.task});
    box.checked = i === 0;
    const model = Object.assign(document.createElement("span"), {className: "model", textContent: entry.model});
    label.append(box, ` ${entry.task} `, model);
    holder.appendChild(label);
  });
  holder.addEventListener("change", (event) => {
    const chosen = chosenTasks();
    if (!chosen.length) { event.target.checked = true; return; }  // one task at least
    if (session.channel && session.channel.readyState === "open") session.channel.send(JSON.stringify({tasks: chosen}));
  });
}

function onServerMessage(event) {
  const data = JSON.parse(event.data);
  if ("frames_in" in data) {  // the figures, each second
    session.server = data;
    if (data.error) say(`The server stopped your stream: ${data.error}`);
    return;
  }
  if (data.error) say(data.error);  // a reply to a choice of tasks: what runs now
  if (data.tasks) {
    for (const box of document.querySelectorAll("input[name=task]")) box.checked = data.tasks.includes(box.value);
  }
}

let attempt = 0;  // each start() and stop() begins a new one: an older start() that wakes up gives up

async function start() {
  const mine = ++attempt;
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    return setState("failed", "The camera needs a secure page: open the https:// address livevision printed " +
      "(or http://localhost on the server itself).");
  }
  setState("connecting");
  say("Allow the camera to start.");
  let camera;
  try {
    camera = await navigator.mediaDevices.getUserMedia(
      {video: {width: {ideal: 640, max: 1280}, height: {ideal: 480, max: 720}}, audio: false});
  } catch (e) {
    if (mine === attempt) setState("failed", `No camera: ${e.message}`);
    return;
  }
  if (mine !== attempt) {  // stopped (or started again) while the camera was being allowed
    camera.getTracks().forEach((track) => track.stop());
    return;
  }
  session.camera = camera;
  local.srcObject = camera;
  say("Connecting…");
  const pc = (session.pc = new RTCPeerConnection({iceServers: CONFIG.iceServers}));
  session.channel = pc.createDataChannel("control");
  session.channel.onmessage = onServerMessage;
  // the server stopping closes the channel at once (the connection itself would take ICE's 30 s to fail)
  session.channel.onclose = () => { if (session.pc === pc) stop("The server closed the connection."); };
  pc.addTransceiver(camera.getVideoTracks()[0], {direction: "sendrecv"});
  pc.ontrack = (event) => { remote.srcObject = new MediaStream([event.track]); };
  pc.onconnectionstatechange = () => {
    if (session.pc !== pc) return;
    if (pc.connectionState === "connected") { setState("live"); say(""); }
    if (pc.connectionState === "failed" || pc.connectionState === "closed") {
      stop(pc.connectionState === "failed" ? "The connection failed." : "The server closed the connection.");
    }
  };
  try {
    await negotiate(pc, {tasks: chosenTasks()});
  } catch (e) {
    if (session.pc !== pc) return;  // stopped meanwhile: that is why it failed
    stop();
    setState(e.status === 503 ? "full" : "refused", e.message);
  }
}

function stop(why, leaving) {
  attempt++;
  const pc = session.pc, channel = session.channel;
  session.pc = session.channel = null;
  if (pc) {
    if (channel && channel.readyState === "open") channel.send(JSON.stringify({bye: true}));
    // closing at once could drop the "bye" still in the send buffer; a page going away cannot wait
    if (leaving) pc.close(); else setTimeout(() => pc.close(), 200);
  }
  if (session.camera) session.camera.getTracks().forEach((track) => track.stop());
  session.camera = null;
  setState("stopped", why || "Stopped.");
}

async function showFigures() {
  const pc = session.pc;
  if (pc && session.state === "live") session.figures = {...(await transportFigures(pc)), fps: returnedFps()};
  const f = session.figures, s = session.server;
  const p50 = (table) => Object.entries(table || {}).map(([task, ms]) => `${task} ${fmt(ms && ms.p50, "ms")}`).join(", ");
  const models = p50(s.inference_ms), ages = p50(s.result_age_ms);
  figuresLine.textContent = session.state !== "live" ? "" :
    `returned ${fmt(f.fps, "fps")} · network round trip ${fmt(f.rttMs, "ms")} · jitter buffer ` +
    `${fmt(f.jitterBufferMs, "ms")} · model ${models || "–"} · result age ${ages || "–"} · ` +
    `${s.visitors || 1} of ${CONFIG.maxClients} visitors`;
}

toggle.addEventListener("click", () => (session.state === "live" || session.state === "connecting" ? stop() : start()));
window.addEventListener("pagehide", () => stop(null, true));
showTasks();
setInterval(showFigures, 1000);
start();
