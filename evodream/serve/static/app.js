// evodream serve: the page. Plain JavaScript, no libraries (the page works offline).
"use strict";
const $ = (sel, root = document) => root.querySelector(sel);
const pathOf = (id) => id.split("/").map(encodeURIComponent).join("/");
const pct = (x) => (x === null || x === undefined ? "–" : (100 * x).toFixed(2) + "%");
const num = (x) => (x === null || x === undefined ? "–" : Math.round(x).toLocaleString("en"));

async function api(method, url, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(url, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `${response.status} ${response.statusText}`);
  return data;
}

// -- one run, live: state, figures, curve, elites (used on both pages) ---------------------------
class RunView {
  constructor(host, { controls }) {
    this.host = host;
    this.controls = controls;
    this.source = null;
    this.id = null;
  }

  open(id) {
    this.close();
    this.id = id;
    this.points = [];
    this.host.replaceChildren($("#run-view").content.cloneNode(true));
    this.root = this.host.firstElementChild;
    this.root.dataset.run = id;
    $(".run-id", this.root).textContent = id;
    $(".stop", this.root).onclick = () => this.act("stop");
    $(".resume", this.root).onclick = () => this.act("resume");
    $(".report", this.root).href = `/api/report/${pathOf(id)}`;
    this.listen();
  }

  listen() {
    if (this.source) this.source.close();
    this.source = new EventSource(`/api/events/${pathOf(this.id)}`);
    this.source.addEventListener("update", (e) => this.update(JSON.parse(e.data)));
    this.source.addEventListener("end", () => { this.source.close(); this.source = null; });
    this.source.onerror = () => { // the server went away or refused: show it, let EventSource retry
      $(".message", this.root).textContent = "connection lost; retrying…";
    };
  }

  close() {
    if (this.source) this.source.close();
    this.source = null;
  }

  async act(what) {
    try {
      await api("POST", `/api/${what}/${pathOf(this.id)}`, {});
      if (what === "resume") { this.points = []; this.listen(); }
      refreshQueue();
    } catch (err) {
      $(".message", this.root).textContent = err.message;
    }
  }

  update(info) {
    const root = this.root;
    const state = $(".state", root);
    state.textContent = info.state || "";
    state.className = "state " + (info.state || "").replace(/ /g, "-");
    root.dataset.state = info.state || "";
    let message = info.message || "";
    if (info.state === "queued" && info.position) {
      message = `waiting in line: ${info.position === 1 ? "next to start" : `number ${info.position}`}`;
    }
    $(".message", root).textContent = message;
    $(".stop", root).hidden = !(this.controls && info.stoppable);
    $(".resume", root).hidden = !(this.controls && info.resumable);
    $(".report", root).hidden = !(info.kind === "evolve" || info.kind === "ascend");
    const f = info.figures || {};
    const figures = [["evaluations", num(f.evaluations)], ["generation", num(f.generation)],
      ["evaluations/s", info.evals_per_s ? info.evals_per_s.toFixed(1) : "–"],
      ["best", pct(f.best)], ["median", pct(f.median)], ["min", pct(f.min)],
      ["targets", info.n_targets], ["seconds", f.wall_seconds ? f.wall_seconds.toFixed(1) : "–"]];
    if (f.stop_reason) figures.push(["stopped by", f.stop_reason]);
    if (info.method) figures.unshift(["method", `${info.method} · ${info.model}`]);
    $(".figures", root).replaceChildren(...figures.map(([k, v]) => {
      const div = document.createElement("div");
      div.innerHTML = "<dt></dt><dd></dd>";
      div.firstChild.textContent = k;
      div.lastChild.textContent = v;
      if (k === "evaluations/s") div.lastChild.className = "evals-per-s";
      return div;
    }));
    if (info.reset) this.points = [];
    if (info.points && info.points.length) {
      this.points.push(...info.points);
      if (this.points.length > 4000) this.points = this.points.filter((_, i) => i % 2 === 0 || i === this.points.length - 1);
    }
    drawCurve($(".curve", root), this.points);
    if (info.elites) this.drawElites(info.elites, info.elites_note);
    if (info.pictures) this.drawPictures(info.pictures);
  }

  fileUrl(item) {
    return `/api/file/${pathOf(this.id)}?path=${encodeURIComponent(item.image)}&v=${item.version}`;
  }

  drawElites(elites, note) {
    $(".elites-note", this.root).textContent = note || (elites.length ? "" :
      "no elites yet: they appear with the run's first checkpoint");
    $(".elites", this.root).replaceChildren(...elites.map((e) => {
      const figure = document.createElement("figure");
      const img = new Image();
      img.className = "elite";
      img.alt = e.class_name;
      img.onload = () => { img.dataset.loaded = "1"; };
      img.src = this.fileUrl(e);
      const caption = document.createElement("figcaption");
      caption.textContent = `${e.class_name} ${pct(e.confidence)}${e.source === "live" ? " (live)" : ""}`;
      figure.append(img, caption);
      return figure;
    }));
  }

  drawPictures(pictures) {
    const host = $(".pictures", this.root);
    const key = JSON.stringify(pictures);
    if (host.dataset.key === key) return;
    host.dataset.key = key;
    host.replaceChildren(...pictures.map((p) => {
      const img = new Image();
      img.alt = p.image;
      img.title = p.image;
      img.src = this.fileUrl(p);
      return img;
    }));
  }
}

function drawCurve(svg, points) {
  const W = 640, H = 260, L = 48, R = 10, T = 10, B = 30;
  const maxX = Math.max(1, ...points.map((p) => p[0] || 0));
  const x = (v) => L + (W - L - R) * (v / maxX);
  const y = (v) => T + (H - T - B) * (1 - v);
  const ns = "http://www.w3.org/2000/svg";
  const parts = [];
  for (const v of [0, 0.5, 0.99]) {
    parts.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/>`,
      `<text x="${L - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10" fill="#777">${v * 100}%</text>`);
  }
  parts.push(`<text x="${W - R}" y="${H - 8}" text-anchor="end" font-size="10" fill="#777">${maxX.toLocaleString("en")} evaluations</text>`,
    `<text x="${L}" y="${H - 8}" font-size="10" fill="#777">0</text>`);
  const colours = [["#1565c0", 1], ["#888", 2], ["#e57373", 3]];
  for (const [colour, column] of colours) {
    const line = points.filter((p) => p[column] !== null && p[column] !== undefined)
      .map((p) => `${x(p[0]).toFixed(1)},${y(p[column]).toFixed(1)}`).join(" ");
    parts.push(`<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${line}"/>`);
  }
  parts.push(`<text x="${L + 6}" y="${T + 12}" font-size="10" fill="#1565c0">best</text>`,
    `<text x="${L + 36}" y="${T + 12}" font-size="10" fill="#888">median</text>`,
    `<text x="${L + 80}" y="${T + 12}" font-size="10" fill="#e57373">min</text>`);
  svg.innerHTML = parts.join("");
  svg.dataset.points = String(points.length);
  svg.setAttribute("xmlns", ns);
}

// -- Evolve page ---------------------------------------------------------------------------------
const chosen = new Map(); // class index -> name
let activeSuggestion = -1;
const liveView = new RunView($("#live-view"), { controls: true });
const detailView = new RunView($("#detail-view"), { controls: true });

function drawChosen() {
  $("#chosen").replaceChildren(...[...chosen].map(([index, name]) => {
    const chip = document.createElement("span");
    chip.dataset.index = index;
    chip.textContent = name;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "×";
    remove.title = `remove ${name}`;
    remove.onclick = () => { chosen.delete(index); drawChosen(); };
    chip.append(remove);
    return chip;
  }));
}

function choose(index, name) {
  chosen.set(index, name);
  drawChosen();
  $("#class-search").value = "";
  $("#suggestions").replaceChildren();
}

let searchTimer = null;
async function suggest() {
  const text = $("#class-search").value;
  if (!text.trim()) { $("#suggestions").replaceChildren(); return; }
  try {
    const data = await api("GET", `/api/classes/${encodeURIComponent($("#model").value)}?q=${encodeURIComponent(text)}&limit=12`);
    activeSuggestion = data.suggestions.length ? 0 : -1;
    $("#suggestions").replaceChildren(...data.suggestions.map((s, i) => {
      const li = document.createElement("li");
      li.textContent = `${s.name} (${s.index})` + (s.words.length ? ` · ${s.words.join(", ")}` : "");
      li.dataset.index = s.index;
      li.role = "option";
      if (i === 0) li.className = "active";
      li.onmousedown = (ev) => { ev.preventDefault(); choose(s.index, s.name); };
      return li;
    }));
  } catch (err) {
    $("#form-error").textContent = err.message;
  }
}

function searchKeys(ev) {
  const items = [...$("#suggestions").children];
  if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
    ev.preventDefault();
    if (!items.length) return;
    activeSuggestion = (activeSuggestion + (ev.key === "ArrowDown" ? 1 : items.length - 1)) % items.length;
    items.forEach((li, i) => li.classList.toggle("active", i === activeSuggestion));
  } else if (ev.key === "Enter") {
    ev.preventDefault();
    const li = items[activeSuggestion];
    if (li) choose(Number(li.dataset.index), li.textContent.replace(/ \(\d+\)$/, ""));
  }
}

async function startRun(ev) {
  ev.preventDefault();
  $("#form-error").textContent = "";
  const goal = $("#goal").value.trim();
  const body = {
    model: $("#model").value,
    method: $("#method").value,
    targets: $("#all-classes").checked ? "all" : [...chosen.keys()],
    budget: Number($("#budget").value),
    seed: Number($("#seed").value),
    goal: goal === "" || goal.toLowerCase() === "none" ? null : Number(goal),
  };
  if ($("#name").value.trim()) body.name = $("#name").value.trim();
  try {
    const started = await api("POST", "/api/runs", body);
    liveView.open(started.id);
    $("#name").value = "";
    refreshQueue();
  } catch (err) {
    $("#form-error").textContent = err.message;
  }
}

async function setUp() {
  const options = await api("GET", "/api/options");
  $("#model").replaceChildren(...options.models.map((m) => new Option(`${m.name} — ${m.description}`, m.name)));
  $("#method").replaceChildren(...options.methods.map((m) => new Option(m, m)));
  $("#model").value = options.defaults.model;
  $("#method").value = options.defaults.method;
  $("#budget").max = options.max_budget;
  $("#model").onchange = () => { chosen.clear(); drawChosen(); };
  $("#class-search").oninput = () => { clearTimeout(searchTimer); searchTimer = setTimeout(suggest, 120); };
  $("#class-search").onkeydown = searchKeys;
  $("#class-search").onblur = () => setTimeout(() => $("#suggestions").replaceChildren(), 150);
  $("#start-form").onsubmit = startRun;
  window.onhashchange = route;
  route();
  setInterval(refreshQueue, 3000);
  refreshQueue();
}

// -- Runs page -----------------------------------------------------------------------------------
async function refreshQueue() {
  try {
    const data = await api("GET", "/api/runs");
    $("#queue-note").textContent = `${data.running} running (at most ${data.max_running}), ${data.waiting} waiting`;
    if (!$("#page-runs").hidden && !$("#runs-list").hidden) drawRuns(data.runs);
  } catch (err) {
    $("#queue-note").textContent = err.message;
  }
}

function drawRuns(runs) {
  $("#runs-empty").hidden = runs.length > 0;
  const body = $("#runs-table tbody");
  const key = JSON.stringify(runs);
  if (body.dataset.key === key) return; // unchanged: keep the rows (and whatever the reader points at)
  body.dataset.key = key;
  $("#runs-table tbody").replaceChildren(...runs.map((run) => {
    const tr = document.createElement("tr");
    tr.dataset.run = run.id;
    tr.dataset.state = run.state;
    const f = run.figures || {};
    const cells = [run.id, run.state + (run.position ? ` (${run.position} in line)` : ""), run.method || run.kind,
      run.model, run.n_targets, num(f.evaluations), pct(f.best), pct(f.median)];
    const thumb = document.createElement("td");
    if (run.best_elite) {
      const img = new Image();
      img.src = `/api/file/${pathOf(run.id)}?path=${encodeURIComponent(run.best_elite.image)}&v=${run.best_elite.version}`;
      img.alt = run.best_elite.class_name;
      thumb.append(img);
    }
    tr.append(thumb, ...cells.map((text) => {
      const td = document.createElement("td");
      td.textContent = text === undefined || text === null ? "–" : text;
      return td;
    }));
    tr.onclick = () => { location.hash = `#run/${run.id}`; };
    return tr;
  }));
}

function route() {
  const hash = location.hash || "#evolve";
  const runs = hash.startsWith("#runs") || hash.startsWith("#run/");
  $("#page-evolve").hidden = runs;
  $("#page-runs").hidden = !runs;
  $("#tab-evolve").classList.toggle("active", !runs);
  $("#tab-runs").classList.toggle("active", runs);
  const detail = hash.startsWith("#run/");
  $("#runs-list").hidden = detail;
  $("#run-detail").hidden = !detail;
  if (detail) detailView.open(decodeURIComponent(hash.slice(5)));
  else detailView.close();
  if (runs && !detail) refreshQueue();
}

setUp().catch((err) => { $("#form-error").textContent = err.message; });
