// The installer's page: live picture with overlays, the stop's state, the zone and mask
// editor and the walk test. Plain script, no libraries, nothing fetched from elsewhere.
"use strict";
const CSRF = document.querySelector('meta[name="csrf"]').content;
const POLL_MS = 250;  // state a few times a second; a new picture whenever the frame changed
const HANDLE_PX = 9;
const img = document.getElementById("frame");
const canvas = document.getElementById("overlay");
const ctx = canvas.getContext("2d");
const statusEl = document.getElementById("editor-status");
const maskSelect = document.getElementById("masks");
let state = null;
let frameId = null;
let loading = false;
let draft = null;  // {kind: "zone"|"mask", index, points: [[x, y], ...]} in fractions
let dragging = -1;

async function send(method, url, body) {
  const r = await fetch(url, {
    method, credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": CSRF},
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = {};
  try { data = await r.json(); } catch (e) { /* not JSON */ }
  return {ok: r.ok, status: r.status, data};
}

function inside(pt, poly) {  // ray casting, like the stop's own zone test
  let c = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < (xj - xi) * (pt[1] - yi) / (yj - yi) + xi) c = !c;
  }
  return c;
}

function row(key, label, value, bad) {
  return `<tr data-key="${key}"><td>${label}</td><td class="${bad ? "error" : ""}">${value}</td></tr>`;
}

function fmt(v) { return Math.round(v * 1000) / 1000; }

function showState(s) {
  const light = s.light || {};
  const rows = [
    row("light", "light wanted / read back",
        `${light.wanted ? "ON" : "off"} / ${light.read_back ? "ON" : "off"}`,
        light.wanted !== light.read_back),
    row("reason", "reason", light.reason || "–"),
    row("mode", "mode", light.mode || "–"),
    row("waiting", "waiting", s.waiting ?? "–"),
    row("occupancy", "in the zone", s.occupancy ?? "–"),
    row("in_service", "in service", s.in_service ? "yes" : "no (outside the hours)"),
    row("faults", "faults", (s.faults || []).join(", ") || "none", (s.faults || []).length),
    row("adaptive", "adaptive rate", s.adaptive ? (s.adaptive.enabled ? `on (${s.adaptive.rate})` : "off") : "–"),
    row("model", "model", `${s.model.name} (${s.model.backend})`),
    row("fps", "frames / detector runs a second", `${s.fps} / ${s.detector_fps}`),
    row("cpu", "CPU (this process, 100 = one core)", `${s.cpu_percent} %`),
    row("zone", "zone in use", s.zone_in_use ? JSON.stringify(s.zone_in_use.controller) : "–"),
    row("crop", "detector crop to (x1, y1, x2, y2)",
        s.zone_in_use && s.zone_in_use.crop ? JSON.stringify(s.zone_in_use.crop.map(fmt)) : "–"),
    row("gate", "adaptive gate watches",
        s.zone_in_use && s.zone_in_use.gate ? JSON.stringify(s.zone_in_use.gate.map(fmt)) : "–"),
  ];
  document.querySelector("#state tbody").innerHTML = rows.join("");
  const h = document.getElementById("health");
  h.textContent = s.health.ok ? "healthy" : s.health.reasons.join("; ");
  h.className = "badge " + (s.health.ok ? "ok" : "bad");
  document.getElementById("walk").textContent = s.walk.message;
  document.getElementById("walk").dataset.status = s.walk.status;
  const masks = s.config.masks;
  if (maskSelect.options.length !== masks.length) {
    maskSelect.innerHTML = masks.map((m, i) => `<option value="${i}">mask ${i + 1}</option>`).join("");
  }
}

function px(p) { return [p[0] * canvas.width, p[1] * canvas.height]; }

function polygon(points, stroke, fill, dash) {
  if (points.length === 0) return;
  ctx.beginPath();
  points.forEach((p, i) => { const [x, y] = px(p); i ? ctx.lineTo(x, y) : ctx.moveTo(x, y); });
  ctx.closePath();
  if (fill) { ctx.fillStyle = fill; ctx.fill(); }
  ctx.setLineDash(dash || []);
  ctx.strokeStyle = stroke; ctx.lineWidth = 2; ctx.stroke();
  ctx.setLineDash([]);
}

function label(text, x, y, colour) {
  ctx.font = "12px sans-serif";
  const w = ctx.measureText(text).width;
  ctx.fillStyle = "rgba(0,0,0,.75)"; ctx.fillRect(x, y - 13, w + 6, 16);
  ctx.fillStyle = colour; ctx.fillText(text, x + 3, y);
}

function draw() {
  const w = img.clientWidth, h = img.clientHeight;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.clearRect(0, 0, w, h);
  if (!state) return;
  const use = state.zone_in_use || {controller: state.config.polygon, masks: state.config.masks};
  polygon(use.controller, "#ffaa00", "rgba(255,170,0,.15)");
  for (const [r, colour] of [[use.crop, "#00bcd4"], [use.gate, "#ab47bc"]]) {
    if (!r) continue;  // the detector's crop and the gate's watched region, dotted
    const [x1, y1] = px([r[0], r[1]]), [x2, y2] = px([Math.min(1, r[2]), Math.min(1, r[3])]);
    ctx.setLineDash([2, 4]); ctx.strokeStyle = colour; ctx.lineWidth = 1;
    ctx.strokeRect(x1 + 1, y1 + 1, x2 - x1 - 2, y2 - y1 - 2); ctx.setLineDash([]);
  }
  use.masks.forEach((m) => polygon(m, "#9e9e9e", "rgba(60,60,60,.35)", [6, 4]));
  const zone = draft && draft.kind === "zone" && draft.points.length >= 3 ? draft.points : null;
  for (const p of state.people || []) {
    const [x1, y1] = px([p.box[0], p.box[1]]), [x2, y2] = px([p.box[2], p.box[3]]);
    const foot = [(p.box[0] + p.box[2]) / 2, p.box[3]];
    const counts = !p.static && (zone ? inside(foot, zone) : p.in_zone);
    // a static thing (static_object: stopsafe zone --mask-static masks it) is drawn apart
    const colour = p.static ? "#e53935" : counts ? "#3cb44b" : "#9e9e9e";
    ctx.strokeStyle = colour; ctx.lineWidth = counts || p.static ? 3 : 1;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    label(`${p.score.toFixed(2)} ${p.dwell_s.toFixed(1)} s${p.waiting ? " waiting" : ""}` +
          (p.static ? " static thing" : "") +
          (zone ? (counts ? " would count" : " would not") : ""), x1, Math.max(14, y1 - 3), colour);
  }
  for (const d of state.detections || []) {
    const [x1, y1] = px([d.box[0], d.box[1]]), [x2, y2] = px([d.box[2], d.box[3]]);
    ctx.strokeStyle = "rgba(255,255,255,.6)"; ctx.lineWidth = 1;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
  }
  if (draft) {
    polygon(draft.points, "#1e88e5", "rgba(30,136,229,.15)", [8, 4]);
    draft.points.forEach((p, i) => {
      const [x, y] = px(p);
      ctx.fillStyle = i === dragging ? "#fff" : "#1e88e5";
      ctx.fillRect(x - 5, y - 5, 10, 10);
    });
  }
}

async function poll() {
  try {
    const r = await fetch("/api/state", {credentials: "same-origin"});
    if (r.status === 401) { window.location = "/login"; return; }
    state = await r.json();
    showState(state);
    if (state.frame && state.frame.id !== frameId && !loading) {
      loading = true;
      frameId = state.frame.id;
      img.src = "/api/frame.jpg?f=" + frameId;
    }
    draw();
  } catch (e) {
    document.getElementById("health").textContent = "no answer from the stop";
  }
  setTimeout(poll, POLL_MS);
}
img.addEventListener("load", () => { loading = false; img.dataset.loaded = "1"; draw(); });
img.addEventListener("error", () => { loading = false; });

function at(ev) {
  const r = canvas.getBoundingClientRect();
  return [Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width)),
          Math.min(1, Math.max(0, (ev.clientY - r.top) / r.height))];
}

function near(ev) {
  if (!draft) return -1;
  const r = canvas.getBoundingClientRect();
  return draft.points.findIndex((p) =>
    Math.hypot(p[0] * r.width - (ev.clientX - r.left), p[1] * r.height - (ev.clientY - r.top)) <= HANDLE_PX);
}

canvas.addEventListener("mousedown", (ev) => {
  if (!draft || ev.button !== 0) return;
  const i = near(ev);
  if (i >= 0) { dragging = i; return; }
  draft.points.push(at(ev));
  statusEl.textContent = `${draft.points.length} points (a zone needs 3 or more)`;
  draw();
});
canvas.addEventListener("mousemove", (ev) => {
  if (dragging < 0) return;
  draft.points[dragging] = at(ev);
  draw();
});
window.addEventListener("mouseup", () => { if (dragging >= 0) { dragging = -1; draw(); } });
canvas.addEventListener("contextmenu", (ev) => {
  if (!draft) return;
  ev.preventDefault();
  const i = near(ev);
  if (i >= 0) { draft.points.splice(i, 1); draw(); }
});

function begin(kind, index, points) {
  draft = {kind, index, points: points.map((p) => [p[0], p[1]])};
  statusEl.className = "";
  statusEl.textContent = kind === "zone"
    ? "drawing the zone: click to place points (the old ones are cleared), drag to move"
    : "drawing a mask: click to place points";
  draw();
}
document.getElementById("edit-zone").addEventListener("click", () => begin("zone", null, []));
document.getElementById("edit-mask").addEventListener("click", () =>
  begin("mask", state ? state.config.masks.length : 0, []));
maskSelect.addEventListener("change", () => {
  const i = Number(maskSelect.value);
  begin("mask", i, state.config.masks[i]);
});
document.getElementById("clear").addEventListener("click", () => { if (draft) { draft.points = []; draw(); } });
document.getElementById("cancel").addEventListener("click", () => {
  draft = null; statusEl.textContent = "cancelled"; draw();
});

async function save(polygon, masks) {
  statusEl.className = "";
  statusEl.textContent = "saving…";
  const r = await send("PUT", "/api/zone", {polygon, masks});
  if (r.ok) {
    draft = null;
    statusEl.textContent = `saved (old file kept as ${r.data.backup}); applied: ` +
      `${(r.data.applied || []).join(", ") || "nothing changed"}` +
      ((r.data.restart_needed || []).length ? `; restart needed for ${r.data.restart_needed.join(", ")}` : "");
    statusEl.dataset.saved = String(Date.now());
  } else {
    statusEl.className = "error";
    statusEl.textContent = r.data.error || `failed (${r.status})`;
  }
  draw();
}
document.getElementById("save").addEventListener("click", () => {
  if (!draft || !state) { statusEl.textContent = "nothing drawn"; return; }
  const masks = state.config.masks.map((m) => m.slice());
  if (draft.kind === "zone") return save(draft.points, masks);
  masks[draft.index] = draft.points;
  return save(state.config.polygon, masks);
});
document.getElementById("delete-mask").addEventListener("click", () => {
  if (!state || maskSelect.value === "") return;
  const masks = state.config.masks.filter((_, i) => i !== Number(maskSelect.value));
  save(state.config.polygon, masks);
});
document.getElementById("walk-start").addEventListener("click", async () => {
  const r = await send("POST", "/api/walk", {action: "start"});
  document.getElementById("walk").textContent = r.ok ? r.data.message : (r.data.error || "failed");
});
document.getElementById("logout").addEventListener("click", async () => {
  await send("POST", "/api/logout");
  window.location = "/login";
});
window.addEventListener("resize", draw);
poll();
