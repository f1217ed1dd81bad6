// The dashboard (researchers): progress per day and per-user contributions and reliability,
// drawn as SVG here (no chart library), exports, and user roles.
import { api, ApiError, describe, researcher, researcherToken } from "./api.js";

const SVG = "http://www.w3.org/2000/svg";
const ROLES = [[0, "researcher"], [1, "expert"], [2, "amateur"], [3, "layperson"], [-1, "banned"]];
const message = document.getElementById("message");
let token = null;

function el(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The chart's drawing width: the width it is shown at, so that one unit is one CSS pixel and
 *  its 14 px text stays 14 px on a phone (not a wide canvas scaled down). */
function canvasWidth(svg) {
  const shown = Math.round(svg.getBoundingClientRect().width);
  return shown > 0 ? Math.max(280, shown) : 900;
}

/** The top of an axis with four equal, round steps (1, 2 or 5 times a power of ten). */
function niceMax(value) {
  const raw = Math.max(value, 4) / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw);
  return step * 4;
}

function progressChart(days) {
  const svg = document.getElementById("progress-chart");
  const shown = days.slice(-60);
  const W = canvasWidth(svg), L = 44, R = 12, T = 12;
  const narrow = W < 520; // the caption below takes two lines
  const B = narrow ? 54 : 36, H = 224 + B;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.querySelectorAll(":scope > :not(desc)").forEach((n) => n.remove());
  if (!shown.length) {
    svg.append(el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No labels yet"));
    return;
  }
  const max = niceMax(Math.max(...shown.map((d) => d.citizen_labels + d.researcher_labels), 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (let i = 0; i <= 4; i++) {
    const v = (max / 4) * i;
    svg.append(el("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#d5dae1" }));
    svg.append(el("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, Math.round(v)));
  }
  const step = (W - L - R) / shown.length;
  const every = Math.ceil(shown.length / Math.max(2, Math.floor((W - L - R) / 60))); // "MM-DD" fits
  const bw = Math.max(2, Math.min(40, step * 0.7));
  const points = [];
  shown.forEach((d, i) => {
    const x = L + step * i + (step - bw) / 2;
    const c = d.citizen_labels, r = d.researcher_labels;
    const day = new Date(d.day * 1000).toISOString().slice(0, 10);
    const bar = el("rect", { x, width: bw, y: y(c), height: y(0) - y(c), fill: "#0a58b8" });
    bar.append(el("title", {}, `${day}: ${c} volunteer labels, ${r} researcher labels, ${d.pages_accepted} of ${d.pages_submitted} pages accepted`));
    svg.append(bar);
    svg.append(el("rect", { x, width: bw, y: y(c + r), height: y(c) - y(c + r), fill: "#b93c05" }));
    points.push([x + bw / 2, y(Math.min(max, d.pages_accepted * 12))]);
    if (i % every === 0) {
      svg.append(el("text", { x: x + bw / 2, y: H - B + 16, "text-anchor": "middle" }, day.slice(5)));
    }
  });
  if (points.length > 1) {
    svg.append(el("polyline", { points: points.map((p) => p.join(",")).join(" "), fill: "none", stroke: "#146c2e", "stroke-width": 2 }));
  }
  for (const [px, py] of points) svg.append(el("circle", { cx: px, cy: py, r: 3.5, fill: "#146c2e" }));
  const caption = narrow
    ? ["UTC day · green: labels on", "accepted pages (12 per page)"]
    : ["UTC day · green: labels on accepted pages (12 per page)"];
  caption.forEach((line, i) => svg.append(el("text", { x: L, y: H - 4 - 18 * (caption.length - 1 - i) }, line)));
}

function who(u) {
  return u.name ? u.name : `Volunteer #${u.user_id}`;
}

/** Shorten an SVG text (already drawn) with "…" until it is at most ``width`` wide. */
function fit(node, width) {
  const full = node.textContent;
  for (let n = full.length - 1; n > 1 && node.getComputedTextLength() > width; n--) {
    node.textContent = `${full.slice(0, n)}…`;
  }
  return node;
}

function usersChart(users) {
  const svg = document.getElementById("users-chart");
  const top = users.filter((u) => (u.labels || 0) > 0 || u.pages_submitted > 0).slice(0, 12);
  const W = canvasWidth(svg), L = Math.min(150, Math.round(W * 0.3)), R = 48;
  const row = 30, H = Math.max(60, top.length * row + 30);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  svg.querySelectorAll(":scope > :not(desc)").forEach((n) => n.remove());
  if (!top.length) {
    svg.append(el("text", { x: W / 2, y: 34, "text-anchor": "middle" }, "No contributions yet"));
    return;
  }
  const max = niceMax(Math.max(...top.map((u) => u.labels || 0), 1));
  const width = (W - L - R) * 0.62, relX = L + width + 24, relW = W - R - relX;
  svg.append(el("text", { x: L, y: 14 }, "labels given"));
  svg.append(el("text", { x: relX, y: 14 }, "reliability"));
  top.forEach((u, i) => {
    const yy = 24 + i * row;
    const name = el("text", { x: L - 8, y: yy + 15, "text-anchor": "end" }, who(u).slice(0, 20));
    svg.append(name);
    fit(name, L - 10);
    const w = (width * (u.labels || 0)) / max;
    svg.append(el("rect", { x: L, y: yy + 3, width: Math.max(1, w), height: 16, fill: "#0a58b8", rx: 2 }));
    svg.append(el("text", { x: L + w + 4, y: yy + 15 }, u.labels || 0));
    svg.append(el("rect", { x: relX, y: yy + 3, width: relW, height: 16, fill: "#e3e7ec", rx: 2 }));
    if (u.reliability !== null) {
      svg.append(el("rect", { x: relX, y: yy + 3, width: relW * u.reliability, height: 16, fill: "#146c2e", rx: 2 }));
    }
    svg.append(el("text", { x: W - R + 6, y: yy + 15 }, u.reliability === null ? "–" : `${Math.round(u.reliability * 100)}%`));
  });
}

function usersTable(users) {
  const me = researcher();
  const body = document.querySelector("#users tbody");
  body.replaceChildren(
    ...users.map((u) => {
      const tr = document.createElement("tr");
      tr.dataset.userId = String(u.user_id);
      const name = document.createElement("th");
      name.scope = "row";
      name.textContent = who(u);
      const roleCell = document.createElement("td");
      const select = document.createElement("select");
      select.setAttribute("aria-label", `Role of ${who(u)}`);
      for (const [value, text] of ROLES) {
        const option = new Option(text, String(value));
        option.disabled = !u.name && (value === 0 || value === 1); // researchers need an account
        select.append(option);
      }
      select.value = String(u.client_type);
      select.disabled = me && me.user_id === u.user_id;
      const note = document.createElement("span");
      note.className = "small muted";
      note.setAttribute("aria-live", "polite");
      select.addEventListener("change", async () => {
        select.disabled = true;
        try {
          const { data } = await api("/api/v1/set_user_role", {
            user_token: token, user_id: u.user_id, client_type: Number(select.value),
          });
          u.client_type = data.client_type;
          note.textContent = " Saved.";
        } catch (error) {
          select.value = String(u.client_type);
          note.textContent = ` ${describe(error)}`;
        }
        select.disabled = false;
      });
      roleCell.append(select, note);
      const cells = [u.score, u.labels ?? 0, `${u.pages_accepted} / ${u.pages_submitted}`,
        u.reliability === null ? "–" : `${Math.round(u.reliability * 100)}%`].map((v) => {
        const td = document.createElement("td");
        td.textContent = String(v);
        return td;
      });
      tr.append(name, roleCell, ...cells);
      return tr;
    }),
  );
}

async function download(format) {
  try {
    const response = await fetch(`/api/v1/export?format=${format}`, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) throw new ApiError(response.status, (await response.json().catch(() => ({}))).message || response.statusText);
    const blob = await response.blob();
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = format === "csv" ? "metadata.csv" : "metadata.json";
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  } catch (error) {
    message.className = "notice bad";
    message.textContent = `Export failed: ${describe(error)}`;
    message.hidden = false;
  }
}

/** Draw the charts again when their width changes (a phone turned, a window resized). */
function redrawOnResize(data) {
  const svg = document.getElementById("progress-chart");
  let drawnAt = canvasWidth(svg);
  let pending = null;
  window.addEventListener("resize", () => {
    clearTimeout(pending);
    pending = setTimeout(() => {
      if (canvasWidth(svg) === drawnAt) return;
      drawnAt = canvasWidth(svg);
      progressChart(data.progress);
      usersChart(data.users);
    }, 150);
  });
}

async function start() {
  try {
    token = await researcherToken();
  } catch (error) {
    message.textContent = describe(error);
    message.hidden = false;
    return;
  }
  if (!token) {
    document.getElementById("signin").hidden = false;
    return;
  }
  try {
    const { data } = await api("/api/v1/get_dashboard", { user_token: token });
    const s = data.statistics;
    document.getElementById("stat-all").textContent = s.num_all_videos.toLocaleString();
    document.getElementById("stat-full").textContent = s.num_fully_labeled.toLocaleString();
    document.getElementById("stat-partial").textContent = s.num_partially_labeled.toLocaleString();
    document.getElementById("stat-users").textContent = data.users.filter((u) => u.pages_submitted > 0).length.toLocaleString();
    document.getElementById("content").hidden = false; // first: the charts take its width
    progressChart(data.progress);
    usersChart(data.users);
    usersTable(data.users);
    redrawOnResize(data);
    for (const f of ["json", "csv"]) {
      const b = document.getElementById(`export-${f}`);
      b.disabled = false;
      b.addEventListener("click", () => download(f));
    }
  } catch (error) {
    message.className = "notice bad";
    message.textContent = `Could not load the dashboard: ${describe(error)}`;
    message.hidden = false;
  }
}
start();
