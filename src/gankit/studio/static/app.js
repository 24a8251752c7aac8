// gankit studio page: plain JS, no build step. Talks to the JSON API of gankit.studio.server.
"use strict";

const $ = (id) => document.getElementById(id);
let current = null;          // the selected run's description from /api/runs
const latest = {};           // per image: the number of the newest request (older answers are dropped)
let pending = 0;             // requests in flight (exposed as data-pending for tests)

function setPending(delta) {
  pending += delta;
  document.body.dataset.pending = String(pending);
}

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = !message;
}

async function call(url, options) {
  setPending(1);
  try {
    const res = await fetch(url, options);
    let body;
    try { body = await res.json(); } catch (e) { body = { error: `${res.status} ${res.statusText}` }; }
    if (!res.ok) throw new Error(body.error || `request failed (${res.status})`);
    return body;
  } finally {
    setPending(-1);
  }
}

// Request an image for <img id=target>; only the newest request per target is shown.
async function render(target, action, payload) {
  const n = (latest[target] = (latest[target] || 0) + 1);
  const img = $(target);
  img.classList.add("busy");
  try {
    const body = await call(`/api/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ run: current.name, ...payload }),
    });
    if (n !== latest[target]) return;
    img.src = body.image;
    img.dataset.version = String(n);
    showError("");
  } catch (e) {
    if (n === latest[target]) showError(e.message);
  } finally {
    if (n === latest[target]) img.classList.remove("busy");
  }
}

function optionalNumber(id) {
  const v = $(id).value.trim();
  return v === "" ? null : Number(v);
}

function debounce(fn, ms) {
  let t = null;
  return (...args) => { clearTimeout(t); t = setTimeout(() => fn(...args), ms); };
}

// ------------------------------------------------------------------ runs
async function loadRuns() {
  const list = $("runs");
  try {
    const body = await call("/api/runs");
    $("root").textContent = body.root;
    list.innerHTML = "";
    if (!body.runs.length) {
      list.innerHTML = '<li class="muted">no runs here yet: train one with <code>gankit train</code></li>';
      return;
    }
    for (const run of body.runs) {
      const li = document.createElement("li");
      li.dataset.run = run.name;
      li.textContent = run.name;
      const small = document.createElement("small");
      small.textContent = `${run.model || "?"} · step ${run.step}` + (run.generator ? "" : " · no generator yet");
      li.appendChild(small);
      li.addEventListener("click", () => selectRun(run));
      list.appendChild(li);
    }
  } catch (e) {
    list.innerHTML = "";
    const li = document.createElement("li");
    li.className = "error";
    li.textContent = e.message;
    list.appendChild(li);
  }
}

function has(run, cap) { return run.capabilities.includes(cap); }

function selectRun(run) {
  current = run;
  for (const li of document.querySelectorAll("#runs li")) {
    li.classList.toggle("active", li.dataset.run === run.name);
  }
  $("pick").hidden = true;
  $("run").hidden = false;
  showError("");
  $("run-name").textContent = run.name;
  $("run-meta").textContent = `model ${run.model} · data ${run.dataset} · step ${run.step} · ` +
    `can: ${run.capabilities.join(", ") || "nothing"}`;
  const report = $("report-link");
  report.href = `/runs/${encodeURIComponent(run.name)}/report.html`;
  report.hidden = !run.report;

  const latent = run.generator && run.latent_dim > 0 && has(run, "sample") && run.kind !== "points";
  const translate = run.generator && has(run, "translate");
  const show = {
    latent, direction: latent && run.directions.length > 0, mix: latent && has(run, "mix"),
    upload: translate || latent, attack: run.generator && has(run, "attack"),
    domain: run.generator && has(run, "classify") && run.kind === "domains",
  };
  for (const sec of document.querySelectorAll("section[data-needs]")) {
    sec.hidden = !show[sec.dataset.needs];
  }
  for (const el of document.querySelectorAll(".cond")) el.hidden = !has(run, "conditional");
  for (const el of document.querySelectorAll(".trunc")) el.hidden = !has(run, "truncate");
  for (const el of document.querySelectorAll(".translate-only")) el.hidden = !translate;
  for (const el of document.querySelectorAll(".project-only")) el.hidden = translate;
  $("upload-title").textContent = translate ? "Translate an image" : "Project an image into the latent space";
  $("upload-note").textContent = translate
    ? "The image is resized to the model's input size and translated."
    : "The generator's latent z is optimised until its image matches yours (a few seconds).";
  $("upload-out-caption").textContent = translate ? "translated" : "projection";
  $("upload-status").textContent = "";
  const none = $("none-note");
  none.hidden = run.generator && (latent || translate || show.attack || show.domain);
  $("domain-status").textContent = "";
  $("domain-items").innerHTML = "";
  $("attack-status").textContent = "";
  $("attack-preds").textContent = "";
  $("img-attack").removeAttribute("src");
  none.textContent = run.generator ? "This model has nothing to sample or translate."
    : "This run has no generator yet (no checkpoint or export): only its report can be viewed.";

  const dirs = $("direction");
  dirs.innerHTML = "";
  for (const d of run.directions) {
    const o = document.createElement("option");
    o.textContent = d;
    dirs.appendChild(o);
  }
  for (const id of ["img-sample", "img-interp", "img-edit", "img-mix", "img-upload-in", "img-upload-out"]) {
    $(id).removeAttribute("src");
  }
  if (latent) {
    sample();
    interpolate();
    if (show.direction) edit();
  }
}

// ------------------------------------------------------------------ actions
function sample() {
  render("img-sample", "sample", {
    seeds: $("seeds").value, class_id: optionalNumber("class-id"), psi: optionalNumber("psi"),
  });
}

function interpolate() {
  const t = Number($("interp-t").value) / 100;
  $("interp-t-label").textContent = `t = ${t.toFixed(2)}`;
  render("img-interp", "interpolate", {
    seed_a: Number($("seed-a").value), seed_b: Number($("seed-b").value), t,
    mode: $("interp-mode").value, class_id: optionalNumber("class-id"), psi: optionalNumber("psi"),
  });
}

function edit() {
  const s = Number($("edit-strength").value) / 10;
  $("edit-strength-label").textContent = `strength ${s.toFixed(1)}`;
  render("img-edit", "edit", {
    direction: $("direction").value, seed: Number($("edit-seed").value), strength: s,
    class_id: optionalNumber("class-id"),
  });
}

function mix() {
  render("img-mix", "mix", { seed: Number($("mix-seed").value), mix_seed: Number($("mix-seed-b").value) });
}

async function upload() {
  const file = $("upload").files[0];
  if (!file) return;
  if (file.size > 10 * 1024 * 1024) {
    showError(`${file.name} is ${(file.size / 1048576).toFixed(1)} MB; the limit is 10 MB`);
    return;
  }
  const translate = has(current, "translate");
  const q = new URLSearchParams({ run: current.name });
  if (translate) q.set("direction", $("translate-dir").value);
  else q.set("steps", $("project-steps").value);
  $("upload-status").textContent = translate ? "translating…" : "projecting…";
  $("upload-status").classList.remove("failed");
  $("img-upload-out").removeAttribute("src");
  try {
    const body = await call(`/api/${translate ? "translate" : "project"}?${q}`, {
      method: "POST", headers: { "Content-Type": file.type || "application/octet-stream" }, body: file,
    });
    $("img-upload-in").src = body.input;
    $("img-upload-out").src = body.image;
    $("upload-status").textContent = `done in ${body.seconds} s` +
      (body.mse !== undefined ? ` · pixel MSE ${body.mse.toFixed(4)}` : "");
    showError("");
  } catch (e) {
    $("upload-status").textContent = e.message;  // next to the file box as well
    $("upload-status").classList.add("failed");
    showError(e.message);
  }
}

async function attack(file) {
  const q = new URLSearchParams({ run: current.name });
  if (!file) q.set("index", $("attack-index").value || "0");
  $("attack-status").textContent = "attacking…";
  $("attack-status").classList.remove("failed");
  try {
    const body = await call(`/api/attack?${q}`, {
      method: "POST", headers: { "Content-Type": file ? (file.type || "application/octet-stream") : "application/octet-stream" },
      body: file || "",
    });
    $("img-attack").src = body.image;
    const fmt = (p) => `${p.class} (${(100 * p.confidence).toFixed(1)}%)`;
    $("attack-preds").textContent = (body.label !== null && body.label !== undefined ? `label ${body.label} · ` : "") +
      `clean prediction ${fmt(body.clean)} → adversarial prediction ${fmt(body.adversarial)}` +
      ` · target ${body.target}, eps ${body.eps}`;
    $("attack-status").textContent = body.clean.class !== body.adversarial.class ? "fooled" : "not fooled";
    showError("");
  } catch (e) {
    $("attack-status").textContent = e.message;
    $("attack-status").classList.add("failed");
    showError(e.message);
  }
}

// ------------------------------------------------------------------ domain adaptation
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function domainItem(item, names) {
  const name = (k) => (names && names[k] !== undefined && names[k] !== String(k) ? `${k} (${names[k]})` : String(k));
  const box = el("div", "domain-item");
  const img = el("img");
  img.src = item.image;
  img.alt = item.domain ? `${item.domain} test image` : "uploaded image";
  box.appendChild(img);
  const facts = el("div", "facts");
  facts.appendChild(el("p", null, item.domain ? `${item.domain} domain` : "uploaded image"));
  if (item.label !== null && item.label !== undefined) facts.appendChild(el("p", null, `label ${name(item.label)}`));
  const right = item.label === null || item.label === undefined ? "" : (item.class === item.label ? " ✓" : " ✗");
  facts.appendChild(el("p", null, `C predicts ${name(item.class)}, ${(100 * item.confidence).toFixed(1)}%${right}`));
  const bars = el("div", "bars");
  item.probs.forEach((p, k) => {
    const b = el("div", k === item.class ? "top" : "");
    b.style.height = `${Math.max(1, 48 * p)}px`;
    b.title = `${name(k)}: ${(100 * p).toFixed(1)}%`;
    b.appendChild(el("span", null, String(k)));
    bars.appendChild(b);
  });
  facts.appendChild(bars);
  const says = item.p_target >= 0.5 ? "target" : "source";
  facts.appendChild(el("p", null, `D: P(target) = ${(100 * item.p_target).toFixed(1)}% → says ${says}`));
  const bar = el("div", "dbar");
  const mark = el("i");
  mark.style.left = `${(218 * item.p_target).toFixed(0)}px`;
  bar.appendChild(mark);
  facts.appendChild(bar);
  const scale = el("div", "dscale");
  for (const t of ["source", "50%", "target"]) scale.appendChild(el("span", null, t));
  facts.appendChild(scale);
  box.appendChild(facts);
  return box;
}

async function domain(file) {
  const q = new URLSearchParams({ run: current.name });
  if (!file) q.set("index", $("domain-index").value || "0");
  $("domain-status").textContent = "classifying…";
  $("domain-status").classList.remove("failed");
  try {
    const body = await call(`/api/domain?${q}`, {
      method: "POST", headers: { "Content-Type": file ? (file.type || "application/octet-stream") : "application/octet-stream" },
      body: file || "",
    });
    const out = $("domain-items");
    out.innerHTML = "";
    for (const item of body.items) out.appendChild(domainItem(item, body.class_names));
    $("domain-status").textContent = `done in ${body.seconds} s`;
    showError("");
  } catch (e) {
    $("domain-status").textContent = e.message;
    $("domain-status").classList.add("failed");
    showError(e.message);
  }
}

$("btn-domain").addEventListener("click", () => domain(null));
$("domain-index").addEventListener("keydown", (e) => { if (e.key === "Enter") domain(null); });
$("domain-upload").addEventListener("change", () => { const f = $("domain-upload").files[0]; if (f) domain(f); });
$("btn-attack").addEventListener("click", () => attack(null));
$("attack-index").addEventListener("keydown", (e) => { if (e.key === "Enter") attack(null); });
$("attack-upload").addEventListener("change", () => { const f = $("attack-upload").files[0]; if (f) attack(f); });
$("btn-sample").addEventListener("click", sample);
$("seeds").addEventListener("keydown", (e) => { if (e.key === "Enter") sample(); });
const interpSoon = debounce(interpolate, 60);
$("interp-t").addEventListener("input", interpSoon);
for (const id of ["seed-a", "seed-b", "interp-mode"]) $(id).addEventListener("change", interpolate);
const editSoon = debounce(edit, 60);
$("edit-strength").addEventListener("input", editSoon);
for (const id of ["direction", "edit-seed"]) $(id).addEventListener("change", edit);
$("btn-mix").addEventListener("click", mix);
$("upload").addEventListener("change", upload);
document.body.dataset.pending = "0";
loadRuns();
