// The page of `dcgan serve`: plain JavaScript, no build step; everything it loads comes from this server.
"use strict";

const $ = (id) => document.getElementById(id);
const MAX_SEED = 2 ** 31 - 1; // random seeds the page draws (any seed up to 2^63 - 1 may be typed)
const WALK_STEPS = 16;
let model = null; // GET /api/model: {card, accepts}
let walkFrames = [];
let inpaintSource = null; // Blob of the image to inpaint
let maskCanvas = null; // the mask at the image's own size: black = keep, white = fill
let painting = false;

function showError(message) {
  const el = $("error");
  el.textContent = message ? `error: ${message}` : "";
  el.hidden = !message;
}

async function api(path, body, asBlob) {
  const init = body instanceof FormData
    ? { method: "POST", body }
    : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try { message = (await response.json()).error || message; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return asBlob ? response.blob() : response.json();
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

// Show a small image scaled up by a whole factor (pixelated) to about `width` CSS pixels.
function show(img, src, width) {
  img.onload = () => {
    const scale = Math.max(1, Math.floor(width / img.naturalWidth));
    img.style.width = `${img.naturalWidth * scale}px`;
    img.dataset.loads = String(Number(img.dataset.loads) + 1);
  };
  img.src = src;
}

function seedOf(id) {
  const text = $(id).value.trim();
  if (!/^\d+$/.test(text)) throw new Error(`${id}: a seed is a whole number from 0`);
  return Number(text);
}

function condition() {
  const accepts = model ? model.accepts : {};
  const out = {};
  if (!accepts.conditional) return out;
  if ($("class").value) out.class = $("class").value;
  const attributes = {};
  for (const select of $("attributes").querySelectorAll("select")) {
    if (select.value) attributes[select.dataset.name] = select.value === "yes";
  }
  if (Object.keys(attributes).length) out.attributes = attributes;
  return out;
}

async function busy(button, work) {
  button.disabled = true;
  showError("");
  try {
    await work();
  } catch (e) {
    showError(e.message);
  } finally {
    button.disabled = false;
  }
}

// ------------------------------------------------------------------------------------------ samples
async function samples() {
  const body = { num: Number($("num").value), seed: seedOf("seed"), format: "png", ...condition() };
  const url = await dataUrl(await api("/api/generate", body, true));
  show($("grid"), url, 480);
  const link = $("download-grid");
  link.href = url;
  link.download = `dcgan-seed${body.seed}.png`;
  link.hidden = false;
}

// ------------------------------------------------------------------------------------------ walk
function showFrame() {
  const i = Number($("walk-slider").value);
  if (!walkFrames[i]) return;
  const url = `data:image/png;base64,${walkFrames[i]}`;
  show($("walk-image"), url, 256);
  $("download-walk").href = url;
  $("download-walk").download = `dcgan-walk-frame${i}.png`;
}

async function walk() {
  const body = { seed_a: seedOf("seed-a"), seed_b: seedOf("seed-b"), steps: WALK_STEPS, format: "json", ...condition() };
  walkFrames = (await api("/api/interpolate", body, false)).images;
  const slider = $("walk-slider");
  slider.max = String(walkFrames.length - 1);
  slider.disabled = false;
  $("download-walk").hidden = false;
  showFrame();
}

// ------------------------------------------------------------------------------------------ inpainting
function drawSource(image) {
  const canvas = $("inpaint-canvas");
  const fit = 256 / Math.max(image.naturalWidth, image.naturalHeight);
  canvas.width = Math.round(image.naturalWidth * fit);
  canvas.height = Math.round(image.naturalHeight * fit);
  const view = canvas.getContext("2d");
  view.imageSmoothingEnabled = false;
  view.drawImage(image, 0, 0, canvas.width, canvas.height);
  maskCanvas = document.createElement("canvas");
  maskCanvas.width = image.naturalWidth;
  maskCanvas.height = image.naturalHeight;
  const mask = maskCanvas.getContext("2d");
  mask.fillStyle = "#000";
  mask.fillRect(0, 0, maskCanvas.width, maskCanvas.height);
  canvas.dataset.painted = "0";
  canvas.dataset.sources = String(Number(canvas.dataset.sources) + 1);
  $("inpaint-button").disabled = false;
}

function loadSource(blob) {
  inpaintSource = blob;
  const image = new Image();
  image.onload = () => { drawSource(image); URL.revokeObjectURL(image.src); };
  image.onerror = () => showError("the chosen file is not an image the browser can show");
  image.src = URL.createObjectURL(blob);
}

// One segment of a brush stroke from the last point to this one (a dot on pointerdown), drawn red on the
// view and white on the mask at the image's own resolution.
let last = null;

function paint(event) {
  if (!painting || !maskCanvas) return;
  const canvas = $("inpaint-canvas");
  const box = canvas.getBoundingClientRect();
  const point = { x: event.clientX - box.left, y: event.clientY - box.top };
  const from = last || point;
  last = point;
  const width = Number($("brush").value);
  const sx = maskCanvas.width / box.width;
  const sy = maskCanvas.height / box.height;
  const stroke = (context, color, scaleX, scaleY, lineWidth) => {
    context.strokeStyle = color;
    context.lineWidth = lineWidth;
    context.lineCap = "round";
    context.beginPath();
    context.moveTo(from.x * scaleX, from.y * scaleY);
    context.lineTo(point.x * scaleX + 0.01, point.y * scaleY);
    context.stroke();
  };
  stroke(canvas.getContext("2d"), "rgba(255, 0, 0, 0.6)", 1, 1, width);
  stroke(maskCanvas.getContext("2d"), "#fff", sx, sy, width * Math.max(sx, sy));
  canvas.dataset.painted = String(Number(canvas.dataset.painted) + 1);
}

async function inpaint() {
  if (!inpaintSource || !maskCanvas) throw new Error("choose an image first");
  if ($("inpaint-canvas").dataset.painted === "0") throw new Error("paint the part to regenerate first");
  const mask = await new Promise((resolve) => maskCanvas.toBlob(resolve, "image/png"));
  const form = new FormData();
  form.append("image", inpaintSource, "image.png");
  form.append("mask", mask, "mask.png");
  form.append("steps", String(Number($("inpaint-steps").value)));
  form.append("format", "json");
  const done = await api("/api/inpaint", form, false);
  const url = `data:image/png;base64,${done.images[0]}`;
  show($("inpaint-result"), url, 256);
  $("download-inpaint").href = url;
  $("download-inpaint").hidden = false;
  $("inpaint-info").textContent = `best of ${done.images.length} (loss ${done.losses[0].toFixed(4)}, ${done.blend} blend)`;
}

async function useSample() {
  loadSource(await api("/api/generate", { num: 1, seed: seedOf("seed"), format: "png", ...condition() }, true));
}

// ------------------------------------------------------------------------------------------ the card
function text(value, indent = "") {
  if (value === null || value === undefined) return "—";
  if (typeof value === "number" && !Number.isInteger(value)) return String(Number(value.toPrecision(4)));
  if (Array.isArray(value)) return value.map((v) => text(v, indent)).join(", ");
  if (typeof value === "object") {
    return Object.entries(value)
      .map(([k, v]) => (v && typeof v === "object" && !Array.isArray(v)
        ? `${indent}${k}:\n${text(v, `${indent}  `)}`
        : `${indent}${k}: ${text(v, indent)}`))
      .join("\n");
  }
  return String(value);
}

// The card's main facts first; every other field under "all fields".
const CARD_MAIN = ["name", "data", "num_images", "image_size", "channels", "steps", "epochs", "metrics",
  "class_names", "license", "intended_use", "limitations"];

function cardRow(list, key, value) {
  const term = document.createElement("dt");
  term.textContent = key.replaceAll("_", " ");
  const description = document.createElement("dd");
  description.textContent = text(value);
  description.dataset.key = key;
  list.append(term, description);
}

function showCard() {
  const card = model.card || {};
  $("card").textContent = "";
  $("card-more").textContent = "";
  for (const key of CARD_MAIN) if (key in card) cardRow($("card"), key, card[key]);
  for (const [key, value] of Object.entries(card)) {
    if (!CARD_MAIN.includes(key) && key !== "provenance") cardRow($("card-more"), key, value);
  }
  if (card.provenance) $("provenance").textContent = text(card.provenance);
  if (card.name) $("model-name").textContent = text(card.name);
  const accepts = model.accepts;
  $("inpaint-steps").max = String(accepts.limits.max_inpaint_steps);
  if (!accepts.inpaint) {
    for (const el of $("inpaint-section").querySelectorAll(".controls, .pair")) el.hidden = true;
    $("inpaint-info").textContent = "This model has no discriminator (a generator-only export): inpainting needs one.";
  }
  if (accepts.conditional) {
    $("condition").hidden = false;
    for (const name of accepts.class_names) $("class").append(new Option(name, name));
    $("class").closest("label").hidden = !accepts.class_names.length;
    for (const name of accepts.attribute_names) {
      const select = document.createElement("select");
      select.dataset.name = name;
      select.id = `attribute-${name}`;
      select.append(new Option(`${name}: any`, ""), new Option(`${name}: yes`, "yes"), new Option(`${name}: no`, "no"));
      $("attributes").append(select);
    }
  }
}

// ------------------------------------------------------------------------------------------ wiring
async function start() {
  $("new-samples").addEventListener("click", () => busy($("new-samples"), () => {
    $("seed").value = String(Math.floor(Math.random() * MAX_SEED));
    return samples();
  }));
  $("show-seed").addEventListener("click", () => busy($("show-seed"), samples));
  $("seed").addEventListener("keydown", (e) => { if (e.key === "Enter") busy($("show-seed"), samples); });
  $("walk-load").addEventListener("click", () => busy($("walk-load"), walk));
  $("walk-slider").addEventListener("input", showFrame);
  $("inpaint-file").addEventListener("change", (e) => { if (e.target.files[0]) loadSource(e.target.files[0]); });
  $("use-sample").addEventListener("click", () => busy($("use-sample"), useSample));
  $("clear-mask").addEventListener("click", () => { if (inpaintSource) loadSource(inpaintSource); });
  $("inpaint-button").addEventListener("click", () => busy($("inpaint-button"), inpaint));
  const canvas = $("inpaint-canvas");
  canvas.addEventListener("pointerdown", (e) => {
    painting = true;
    last = null;
    canvas.setPointerCapture(e.pointerId);
    paint(e);
  });
  canvas.addEventListener("pointermove", paint);
  for (const end of ["pointerup", "pointercancel"]) canvas.addEventListener(end, () => { painting = false; });
  try {
    const response = await fetch("/api/model");
    model = await response.json();
    showCard();
    await samples();
    await walk();
  } catch (e) {
    showError(e.message);
  }
  document.body.dataset.ready = "1";
}

start();
