// raregal explore: the page. Every string from the run reaches the DOM as a text
// node (el() below), never as HTML, so ids such as <img src=x onerror=...> stay text.
"use strict";

const state = { run: null, scatter: null, xy: null, colour: null, galaxy: null,
                selection: null, classSort: { key: "persistence", descending: true } };
const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;  // CSSOM: allowed by the page's CSP
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child ?? "")));
  }
  return node;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  if (!response.ok) {
    let message = await response.text();
    try { message = JSON.parse(message).error || message; } catch (e) { /* plain text */ }
    throw new Error(message);
  }
  return response;
}

const getJSON = async (path) => (await api(path)).json();
const postJSON = async (path, body) => (await api(path, {
  method: "POST", headers: { "Content-Type": "application/json" },
  body: JSON.stringify(body) })).json();
const fmt = (v, digits = 3) => (v === null || v === undefined ? "–"
  : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(digits)) : String(v));

// --- colours ------------------------------------------------------------------------

// Class colours come from the server (raregal.report.class_colours, the report's
// palette): distinct for any number of classes; grey for galaxies in no class.
function classPalette() {
  return [state.run.no_class_colour, ...state.run.colours];
}

// viridis, sampled: continuous columns.
const VIRIDIS = ["#440154", "#482878", "#3e4989", "#31688e", "#26828e", "#1f9e89",
                 "#35b779", "#6ece58", "#b5de2b", "#fde725"];

// --- the map ------------------------------------------------------------------------

const pointSize = (n) => (n > 100000 ? 2 : n > 10000 ? 3 : 5);

function makeScatter(n, options = {}) {
  const canvas = $("map");
  const box = canvas.getBoundingClientRect();
  state.scatter = createScatterplot({
    canvas, width: box.width, height: box.height,
    pointSize: pointSize(n), pointSizeSelected: 3,
    pointOutlineWidth: 2, pointColorActive: "#000000", opacityInactiveScale: 0.25,
    backgroundColor: "#ffffff", lassoColor: "#2a5db0",
    opacityBy: n > 50000 ? "density" : null, deselectOnDblClick: true,
    deselectOnEscape: true, lassoClearEvent: "deselect", ...options });
  keepLassoSelections(canvas);
  state.scatter.subscribe("select", ({ points }) => picked(Array.from(points)));
}

async function loadMap() {
  const started = performance.now();
  if (state.run.density) {
    await loadViews();
  } else {
    const buffer = await (await api("/api/map")).arrayBuffer();
    const xy = new Float32Array(buffer);
    const n = xy.length / 2;
    const x = new Float32Array(n), y = new Float32Array(n);
    for (let i = 0; i < n; i++) { x[i] = xy[2 * i]; y[i] = xy[2 * i + 1]; }
    state.xy = { x, y };
    makeScatter(n);
  }
  const fetched = performance.now();
  await colourBy("class");
  window.exploreTimings = { fetch_ms: fetched - started, total_ms: performance.now() - started,
                            points: state.run.density ? state.view.count : state.run.n,
                            kind: state.run.density ? state.view.kind : "points" };
  document.body.dataset.ready = "true";
}

// A click or lasso on the map: indices of the points drawn. With the whole map drawn
// they are rows; in a view (large runs) the view's rows, or its density cells.
function picked(points) {
  const view = state.view;
  if (view && view.kind === "density") {
    if (points.length === 1) zoomToCell(points[0]);
    else if (points.length > 1) {
      selectBy({ cells: { window: view.window, ids: points.map((i) => view.ids[i]) } });
    }
    return;
  }
  const rows = view ? points.map((i) => view.ids[i]) : points;
  if (rows.length === 1) showGalaxy(rows[0], { fromMap: true });
  else if (rows.length > 1) selectBy({ rows });
}

// --- large runs: the map as views (raregal.explore.view) -----------------------------

const NO_CLASS_DENSITY = "#6a6a6a";

// The least of a d3 linear scale that regl-scatterplot asks for: given scales, it
// keeps their domain on the part of the map in sight, which is what a view fetches.
function linearScale() {
  let domain = [-1, 1], range = [0, 1];
  const scale = (v) => range[0] + (v - domain[0]) / (domain[1] - domain[0]) * (range[1] - range[0]);
  scale.domain = (d) => (d === undefined ? [...domain] : ((domain = [...d]), scale));
  scale.range = (r) => (r === undefined ? [...range] : ((range = [...r]), scale));
  scale.copy = () => linearScale().domain(domain).range(range);
  return scale;
}

async function loadViews() {
  state.xScale = linearScale();
  state.yScale = linearScale();
  makeScatter(0, { xScale: state.xScale, yScale: state.yScale, opacityBy: null,
                   pointScaleMode: "constant" });
  let waiting = null;
  state.scatter.subscribe("view", () => {  // fetch once the pan or zoom pauses
    clearTimeout(waiting);
    waiting = setTimeout(() => drawView().catch(showViewError), 250);
  });
}

function showViewError(error) { $("view-status").textContent = `map: ${error.message}`; }

// Fetch and draw the part of the map in sight: its galaxies, or their density.
async function drawView() {
  const [x0, x1] = state.xScale.domain(), [y0, y1] = state.yScale.domain();
  const column = state.colour ? state.colour.column : "class";
  const asked = `/api/view?x0=${x0}&x1=${x1}&y0=${y0}&y1=${y1}` +
                `&colour=${encodeURIComponent(column)}`;
  state.asked = asked;
  const response = await api(asked);
  const buffer = await response.arrayBuffer();
  if (state.asked !== asked) return;  // a later view was asked for meanwhile
  const view = JSON.parse(response.headers.get("X-View"));
  const meta = JSON.parse(response.headers.get("X-Colour"));
  const m = view.count;
  const part = (i) => new Float32Array(buffer, 4 * m * i, m);
  view.ids = new Int32Array(buffer, 0, m);
  const values = part(3).slice();
  const missing = fixMissing(meta, values);
  const density = view.kind === "density";
  // cells fade with their count: galaxies in no class as a darker grey, so the bulk shows
  const palette = meta.kind !== "categorical" ? VIRIDIS
    : density ? [NO_CLASS_DENSITY, ...state.run.colours] : classPalette();
  state.colour = { column, meta, palette };
  if (!density) view.index = new Map(Array.from(view.ids, (row, i) => [row, i]));
  state.view = view;
  const width = $("map").getBoundingClientRect().width;
  state.scatter.set({
    colorBy: "valueA", pointColor: palette, opacityBy: density ? "valueB" : null,
    opacity: density ? [0.25, 0.4, 0.55, 0.7, 0.85, 1] : 1,
    pointSize: density ? Math.max(2, Math.ceil(view.cell / (x1 - x0) * width)) : pointSize(m) });
  const points = { x: part(1), y: part(2), valueA: values };
  if (density) points.valueB = part(4);
  await state.scatter.draw(points, { zDataType: meta.kind, wDataType: "continuous" });
  $("view-status").textContent = density
    ? `${view.galaxies} galaxies in sight, drawn as their density (${m} cells); zoom in ` +
      `to see them one by one (at most ${state.run.points_max}).`
    : `${view.galaxies} galaxies in sight.`;
  drawLegend(meta, palette, missing);
}

function zoomToCell(i) {
  const v = state.view;
  const x = new Float32Array(v.ids.buffer, 4 * v.count, v.count)[i];
  const y = new Float32Array(v.ids.buffer, 8 * v.count, v.count)[i];
  state.scatter.zoomToArea({ x: x - 4 * v.cell, y: y - 4 * v.cell, width: 8 * v.cell,
                             height: 8 * v.cell }, { transition: false });
}

// Highlight rows on the map: with views, those in sight as points.
function highlight(rows) {
  const view = state.view;
  if (!view) { state.scatter.select(rows, { preventEvent: true }); return; }
  if (view.kind !== "points") return;
  const drawn = rows.map((r) => view.index.get(r)).filter((i) => i !== undefined);
  state.scatter.select(drawn, { preventEvent: true });
}

function fixMissing(meta, values) {
  let missing = 0;
  if (meta.kind === "continuous") {
    for (let i = 0; i < values.length; i++) if (values[i] < 0) { values[i] = 0; missing++; }
  }
  return missing;
}

async function colourBy(column) {
  if (state.run.density) {
    state.colour = { column };
    await drawView();
    return;
  }
  const response = await api(`/api/colour/${encodeURIComponent(column)}`);
  const meta = JSON.parse(response.headers.get("X-Colour"));
  const values = new Float32Array(await response.arrayBuffer());
  const missing = fixMissing(meta, values);
  const palette = meta.kind === "categorical" ? classPalette() : VIRIDIS;
  state.colour = { column, meta, palette };
  state.scatter.set({ colorBy: "valueA", pointColor: palette });
  await state.scatter.draw({ x: state.xy.x, y: state.xy.y, valueA: values },
                           { zDataType: meta.kind });
  drawLegend(meta, palette, missing);
}

function drawLegend(meta, palette, missing) {
  const legend = $("legend");
  legend.replaceChildren();
  if (meta.kind === "categorical") {
    const classes = state.run.classes;
    legend.append(el("span", {}, el("span", { class: "swatch", style: `background:${palette[0]}` }),
                     "no class"));
    const shown = Math.min(classes.length, 40);
    for (let i = 0; i < shown; i++) {
      legend.append(el("span", {}, el("span", { class: "swatch",
        style: `background:${palette[i + 1]}` }), classes[i].letter));
    }
    if (classes.length > shown) legend.append(el("span", {}, `… ${classes.length - shown} more`));
  } else {
    legend.append(fmt(meta.min), el("span", { class: "ramp",
      style: `background:linear-gradient(to right, ${palette.join(",")})` }), fmt(meta.max));
    if (missing) legend.append(el("span", {}, `(${missing} missing, drawn as the lowest)`));
  }
}

// regl-scatterplot takes the click that follows any press released near where it
// began for a click on the galaxy under the pointer, so a lasso closed where it
// started was replaced by that one galaxy. A click ending a lasso drag (lasso mode
// or shift) is stopped before it reaches the library.
function keepLassoSelections(canvas) {
  let press = null;
  const wrap = canvas.parentElement;
  wrap.addEventListener("mousedown", (e) => {
    const lasso = state.scatter.get("mouseMode") === "lasso" || e.shiftKey;
    press = { x: e.clientX, y: e.clientY, lasso, dragged: false };
  }, true);
  window.addEventListener("mousemove", (e) => {
    if (press && Math.hypot(e.clientX - press.x, e.clientY - press.y) > 4) press.dragged = true;
  }, true);
  wrap.addEventListener("click", (e) => {
    if (press && press.lasso && press.dragged) e.stopPropagation();
    press = null;
  }, true);
}

// Where a galaxy is on screen (for tests and tools): [x, y] in canvas pixels.
function screenPosition(row) {
  const index = state.view ? (state.view.index && state.view.index.get(row)) : row;
  return index === undefined ? undefined : state.scatter.getScreenPosition(index);
}

// --- the galaxy card ----------------------------------------------------------------

function thumbnail(row, hasImage, size = 128) {
  if (!hasImage) return el("div", { class: "noimage" }, "no image");
  return el("img", { src: `/api/thumb/${row}?size=${size}`, alt: "galaxy image",
                     loading: "lazy" });
}

async function showGalaxy(row, { fromMap = false } = {}) {
  const g = await getJSON(`/api/galaxy/${row}`);
  state.galaxy = g;
  openTab("galaxy");
  $("card-empty").hidden = true;
  $("card").hidden = false;
  $("card").dataset.row = String(g.row);
  $("card-id").textContent = g.id;
  const thumb = $("card-thumb");
  thumb.classList.remove("large");
  if (g.image) { thumb.src = `/api/thumb/${g.row}?size=${state.run.thumb_sizes[0]}`; }
  else { thumb.removeAttribute("src"); }
  thumb.alt = g.image ? "galaxy image" : "no image";
  const facts = $("card-facts");
  facts.replaceChildren();
  const fact = (name, ...value) => facts.append(el("dt", {}, name), el("dd", {}, ...value));
  fact("class", g.class ? el("a", { href: "#", onclick: (e) => { e.preventDefault();
    selectBy({ class: g.class }); } }, g.class) : "none");
  fact("probability", fmt(g.probability));
  fact("ra, dec", g.ra === null ? "unknown" :
    `${g.ra.toFixed(5)}, ${g.dec.toFixed(5)}` + (g.position_from === "name" ? " (from the name)" : ""));
  if (g.viewer) fact("viewer", el("a", { href: g.viewer, target: "_blank", rel: "noopener" },
                                  "Legacy Surveys (DR10)"));
  fact("row", String(g.row));
  const fractions = $("card-fractions");
  fractions.replaceChildren(el("tr", {}, el("th", {}, "vote fraction"), el("th", {}, "value")));
  for (const [name, value] of Object.entries(g.fractions)) {
    fractions.append(el("tr", {}, el("td", {}, name), el("td", {}, fmt(value))));
  }
  drawTagger($("galaxy-tagger"), "galaxy", g.id);
  if (!fromMap) highlight([g.row]);
  const found = await getJSON(`/api/neighbours/${g.row}?k=12`);
  $("neighbour-source").textContent = `Nearest neighbours in ${found.source}.`;
  const gallery = $("neighbours");
  gallery.replaceChildren();
  for (const nb of found.neighbours) {
    const caption = nb.distance === null ? nb.id : `${nb.id} (${nb.distance.toFixed(2)})`;
    gallery.append(el("figure", { "data-row": String(nb.row), onclick: () => showGalaxy(nb.row) },
                      thumbnail(nb.row, nb.image), el("figcaption", {}, caption)));
  }
}

async function showGalaxyById(id) {
  const { row } = await getJSON(`/api/lookup?id=${encodeURIComponent(id)}`);
  await showGalaxy(row);
  return row;
}

// --- tags ---------------------------------------------------------------------------

async function drawTagger(box, kind, target) {
  box.replaceChildren();
  const list = el("span", {});
  const choice = el("select", {}, ...state.run.tags.map((t) => el("option", { value: t }, t)));
  const note = el("input", { placeholder: kind === "class" ? "note (merge: the other class)"
                                                           : "note", maxlength: "2000" });
  const error = el("p", { class: "error" });
  const add = el("button", { type: "button", onclick: async () => {
    try {
      await postJSON("/api/tags", { kind, target, tag: choice.value, note: note.value });
    } catch (e) {  // e.g. a read-only or moved run folder: the note stays in the box
      error.textContent = `Tag not saved: ${e.message}`;
      return;
    }
    note.value = "";
    drawTagger(box, kind, target);
  } }, "tag");
  box.append(el("strong", {}, "tags: "), list, el("br"), choice, note, add, error);
  box.dataset.target = target;
  const tags = await getJSON(`/api/tags?kind=${kind}&target=${encodeURIComponent(target)}`);
  for (const t of tags) {
    list.append(el("span", { class: "tag" }, t.tag + (t.note ? `: ${t.note}` : "")));
  }
  if (!tags.length) list.append("none");
}

async function drawTagTable() {
  $("tags-error").textContent = "";
  const tags = await getJSON("/api/tags");
  const table = $("tag-table");
  table.replaceChildren(el("tr", {}, ...["kind", "target", "tag", "note", "created", ""]
    .map((h) => el("th", {}, h))));
  for (const t of tags) {
    const remove = el("button", { type: "button", onclick: async () => {
      try {
        await api(`/api/tags/${t.id}`, { method: "DELETE" });
      } catch (e) {
        $("tags-error").textContent = `Tag not removed: ${e.message}`;
        return;
      }
      drawTagTable();
    } }, "remove");
    const open = () => (t.kind === "class" ? selectBy({ class: t.target }) : showGalaxyById(t.target));
    table.append(el("tr", {}, el("td", {}, t.kind),
      el("td", {}, el("a", { href: "#", onclick: (e) => { e.preventDefault(); open(); } }, t.target)),
      el("td", {}, t.tag), el("td", {}, t.note), el("td", {}, t.created), el("td", {}, remove)));
  }
}

// --- suggest next -------------------------------------------------------------------

// The rounds, newest first: each galaxy with its tags and buttons to tag it here; the
// server ranks the next round from every tag (raregal.explore.suggest).
async function drawSuggestions(view = null) {
  view = view || await getJSON("/api/suggest");
  $("suggest-status").textContent = view.status;
  $("suggest-start").textContent = view.start || "";
  $("suggest-problem").textContent = view.problem || "";
  $("suggest-next").textContent = `suggest next ${view.per_round}`;
  const rounds = $("suggest-rounds");
  rounds.replaceChildren();
  for (const r of [...view.rounds].reverse()) {
    const gallery = el("div", { class: "gallery" },
                       ...r.galaxies.map((g) => suggestionFigure(g, view.label_tags)));
    rounds.append(el("section", { class: "round", "data-round": String(r.round) },
      el("h3", {}, r.summary), el("p", { class: "small" }, `${r.basis_text}; ${r.created}`),
      gallery));
  }
}

function suggestionFigure(g, labelTags) {
  const tag = async (name) => {
    try {
      await postJSON("/api/tags", { kind: "galaxy", target: g.id, tag: name });
    } catch (e) {
      $("suggest-error").textContent = `Tag not saved: ${e.message}`;
      return;
    }
    drawSuggestions();
  };
  return el("figure", { "data-row": String(g.row), "data-id": g.id },
    el("div", { onclick: () => showGalaxy(g.row) }, thumbnail(g.row, g.image)),
    el("figcaption", {}, g.class ? `${g.id} (${g.class})` : g.id),
    el("div", { class: "said" }, g.tags.length ? g.tags.join(", ") : "untagged"),
    el("div", { class: "quick" }, ...labelTags.map((name) => el("button", {
      type: "button", "data-tag": name, onclick: () => tag(name) }, name))));
}

async function suggestNext() {
  $("suggest-error").textContent = "";
  $("suggest-next").disabled = true;
  try {
    const view = await postJSON("/api/suggest", {});
    await drawSuggestions(view);
    const latest = view.rounds[view.rounds.length - 1];  // where the new round lies
    highlight(latest.galaxies.map((g) => g.row));
  } catch (e) {
    $("suggest-error").textContent = e.message;
  } finally {
    $("suggest-next").disabled = false;
  }
}

// --- classes ------------------------------------------------------------------------

function drawClassTable() {
  const { key, descending } = state.classSort;
  const rows = [...state.run.classes].sort((a, b) => {
    const order = a[key] < b[key] ? -1 : a[key] > b[key] ? 1 : 0;
    return descending ? -order : order;
  });
  const palette = classPalette();
  const colourOf = Object.fromEntries(state.run.classes.map((c, i) => [c.letter, palette[i + 1]]));
  // every per-class column the run has (credibility too), the internal class number aside
  const extra = Object.keys(state.run.classes[0] || {}).filter(
    (k) => !["letter", "class", "size", "persistence", "differences"].includes(k));
  const columns = [["letter", "class"], ["size", "size"], ["persistence", "persistence"],
                   ...extra.map((k) => [k, k.replace(/_/g, " ")]),
                   ["differences", "vote fractions that differ from the sample"]];
  const table = $("class-table");
  table.replaceChildren(el("tr", {}, ...columns.map(([k, title]) => el("th", {
    "data-key": k, onclick: () => {
      state.classSort = { key: k, descending: state.classSort.key === k ? !descending : true };
      drawClassTable();
    } }, title + (k === key ? (descending ? " ▼" : " ▲") : "")))));
  for (const c of rows) {
    table.append(el("tr", { class: "clickable", "data-letter": c.letter,
                            onclick: () => selectBy({ class: c.letter }) },
      el("td", {}, el("span", { class: "swatch", style: `background:${colourOf[c.letter]}` }),
         c.letter),
      ...columns.slice(1).map(([k]) => el("td", {}, typeof c[k] === "boolean"
        ? (c[k] ? "yes" : "no") : fmt(c[k])))));
  }
}

// --- selections ---------------------------------------------------------------------

async function selectBy(body) {
  openTab("selection");
  $("selection-error").textContent = "";
  try {
    const result = await postJSON("/api/select", body);
    drawSelection(result);
    if (!body.rows && !body.cells) highlight(result.highlight);
    if (body.class) drawTagger($("class-tagger"), "class", body.class);
    $("class-tagger").hidden = !body.class;
  } catch (error) {
    $("selection-error").textContent = error.message;
  }
}

async function selectionPage(page) {
  drawSelection(await getJSON(`/api/selection/${state.selection.selection}?page=${page}`));
}

function drawSelection(result) {
  state.selection = result;
  $("selection-view").hidden = false;
  $("selection-label").textContent = result.label;
  $("selection-count").textContent = `${result.total} galaxies`;
  for (const kind of ["csv", "fits", "vot"]) {
    $(`export-${kind}`).href = `/api/selection/${result.selection}/export.${kind}`;
  }
  $("page-info").textContent = ` page ${result.page + 1} of ${result.pages} `;
  const table = $("selection-table");
  table.replaceChildren(el("tr", {}, ...result.columns.map((c) => el("th", {}, c))));
  const rowAt = result.columns.indexOf("row");
  for (const values of result.rows) {
    table.append(el("tr", { class: "clickable", onclick: () => showGalaxy(values[rowAt]) },
      ...values.map((v) => el("td", {}, fmt(v)))));
  }
}

// --- the page -----------------------------------------------------------------------

function openTab(name) {
  for (const button of document.querySelectorAll("#tabs button")) {
    button.classList.toggle("active", button.dataset.tab === name);
  }
  for (const tab of document.querySelectorAll(".tab")) tab.hidden = tab.id !== `tab-${name}`;
  if (name === "tags") drawTagTable();
  if (name === "suggest") {
    $("suggest-error").textContent = "";
    drawSuggestions().catch((e) => { $("suggest-error").textContent = e.message; });
  }
}

async function followHash() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.has("galaxy")) await showGalaxyById(hash.get("galaxy"));
  else if (hash.has("class")) await selectBy({ class: hash.get("class") });
}

async function start() {
  const run = await getJSON("/api/run");
  state.run = run;
  $("run-name").textContent = run.name;
  $("run-summary").textContent =
    `${run.n} galaxies searched; ${run.classes.length} classes holding ${run.in_classes} ` +
    `(${(100 * run.in_classes / Math.max(run.n, 1)).toFixed(1)} %); ${run.images} images; ` +
    `more like this: ${run.neighbours}.`;
  const select = $("colour-by");
  for (const column of run.columns) select.append(el("option", { value: column }, column));
  select.addEventListener("change", () => colourBy(select.value));
  for (const button of document.querySelectorAll("#tabs button")) {
    button.addEventListener("click", () => openTab(button.dataset.tab));
  }
  const mode = (name) => {
    state.scatter.set({ mouseMode: name === "lasso" ? "lasso" : "panZoom" });
    $("mode-pan").classList.toggle("active", name !== "lasso");
    $("mode-lasso").classList.toggle("active", name === "lasso");
  };
  $("mode-pan").addEventListener("click", () => mode("pan"));
  $("mode-lasso").addEventListener("click", () => mode("lasso"));
  $("reset-view").addEventListener("click", () => state.scatter.reset());
  $("card-thumb").addEventListener("click", () => {
    const g = state.galaxy;
    if (!g || !g.image) return;
    const large = !$("card-thumb").classList.contains("large");
    $("card-thumb").classList.toggle("large", large);
    $("card-thumb").src = `/api/thumb/${g.row}?size=${run.thumb_sizes[large ? 1 : 0]}`;
  });
  $("query-form").addEventListener("submit", (e) => {
    e.preventDefault();
    selectBy({ query: $("query").value });
  });
  $("suggest-next").addEventListener("click", suggestNext);
  $("page-prev").addEventListener("click", () => selectionPage(state.selection.page - 1));
  $("page-next").addEventListener("click", () => selectionPage(state.selection.page + 1));
  window.addEventListener("hashchange", followHash);
  window.addEventListener("resize", () => {
    const box = $("map").getBoundingClientRect();
    state.scatter.set({ width: box.width, height: box.height });
  });
  drawClassTable();
  await loadMap();
  await followHash();
}

window.explore = { showGalaxy, showGalaxyById, selectBy, colourBy, screenPosition, openTab,
                   drawView, state };
start().catch((error) => {
  document.body.dataset.ready = "error";
  $("run-summary").textContent = `Could not load the run: ${error.message}`;
});
