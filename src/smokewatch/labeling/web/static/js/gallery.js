// The gallery: clips by label (smoke, no smoke, maybe, discord, mine), paginated, filtered by
// camera, view and date. Signed-in researchers see both states and change them inline.
import { api, ApiError, describe, researcher, researcherToken, volunteerToken } from "./api.js";
import { el as textEl, strong } from "./dom.js";

const PAGE_SIZE = 16;
const TABS = [
  { key: "smoke", label: "Smoke", query: "pos_labels" },
  { key: "nosmoke", label: "No smoke", query: "neg_labels" },
  { key: "maybe", label: "Maybe smoke", query: "maybe_pos_labels" },
  { key: "maybenot", label: "Maybe no smoke", query: "maybe_neg_labels" },
  { key: "discord", label: "Discord", query: "discorded_labels" },
  { key: "mine", label: "My smoke labels", query: "pos_labels", mine: true },
  { key: "gold", label: "Gold smoke", query: "pos_gold_labels", researcher: true },
  { key: "goldneg", label: "Gold no smoke", query: "neg_gold_labels", researcher: true },
  { key: "bad", label: "Bad", query: "bad_labels", researcher: true },
];
const STATES = {
  "-2": "bad", "-1": "none", 3: "discord", 4: "one no", 5: "one yes", 12: "no", 15: "yes",
  16: "no (strong)", 19: "yes (weak)", 20: "no (weak)", 23: "yes (strong)", 32: "gold no", 47: "gold yes",
};
const POS = new Set([5, 15, 19, 23, 47]);
const NEG = new Set([4, 12, 16, 20, 32]);
const CHOICES = [
  ["", "Set researcher label…"], ["23", "Smoke"], ["16", "No smoke"], ["47", "Gold: smoke"],
  ["32", "Gold: no smoke"], ["-2", "Bad clip"], ["-1", "Clear researcher label"],
];

const params = new URLSearchParams(window.location.search);
const state = {
  tab: TABS.some((t) => t.key === params.get("tab")) ? params.get("tab") : "smoke", // unknown: Smoke
  page: Math.max(1, Math.floor(Number(params.get("page"))) || 1),
  camera: params.get("camera") || "",
  view: params.get("view") || "",
  date: params.get("date") || "",
};
const grid = document.getElementById("grid");
const summary = document.getElementById("summary");
const message = document.getElementById("message");
const form = document.getElementById("filters");
let token = null; // researcher token, when signed in
let myId = null;
let facets = { cameras: [] };

function chip(value) {
  const span = document.createElement("span");
  span.className = `state ${POS.has(value) ? "pos" : NEG.has(value) ? "neg" : ""}`;
  span.textContent = STATES[String(value)] ?? String(value);
  return span;
}

function sync() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state)) if (v && !(k === "page" && v === 1)) q.set(k, v);
  history.replaceState(null, "", `${location.pathname}${q.toString() ? `?${q}` : ""}`);
}

function drawTabs() {
  const tabs = document.getElementById("tabs");
  tabs.replaceChildren(
    ...TABS.filter((t) => !t.researcher || token).map((t) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = t.label;
      b.setAttribute("aria-pressed", String(t.key === state.tab));
      b.addEventListener("click", () => {
        state.tab = t.key;
        state.page = 1;
        drawTabs();
        load();
      });
      return b;
    }),
  );
}

function drawFilters() {
  const camera = document.getElementById("camera");
  const view = document.getElementById("view");
  camera.replaceChildren(new Option("All cameras", ""), ...facets.cameras.map((c) => new Option(`Camera ${c.camera_id}`, String(c.camera_id))));
  camera.value = state.camera;
  const views = facets.cameras.find((c) => String(c.camera_id) === camera.value)?.views ||
    [...new Set(facets.cameras.flatMap((c) => c.views))].sort((a, b) => a - b);
  view.replaceChildren(new Option("All views", ""), ...views.map((v) => new Option(`View ${v}`, String(v))));
  view.value = state.view;
  const date = document.getElementById("date");
  date.value = state.date;
  if (facets.first_day) date.min = facets.first_day;
  if (facets.last_day) date.max = facets.last_day;
}

// The clip's start in the cameras' zone (the day of its file name and of the Date filter);
// in UTC, date and time both, when the facets did not come or the zone is unknown here.
function when(item) {
  const t = new Date(item.start_time * 1000);
  if (facets.timezone) {
    try {
      const format = new Intl.DateTimeFormat("en-US", {
        timeZone: facets.timezone, year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short",
      });
      const p = Object.fromEntries(format.formatToParts(t).map((x) => [x.type, x.value]));
      return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute} ${p.timeZoneName}`;
    } catch {
      /* a zone this browser does not know: UTC below */
    }
  }
  return `${t.toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

function card(item) {
  const el = document.createElement("article");
  el.className = "gallery-item";
  el.dataset.videoId = String(item.id);
  const frame = document.createElement("div");
  frame.className = "frame";
  const video = document.createElement("video");
  for (const a of ["muted", "playsinline", "loop", "autoplay"]) video.setAttribute(a, "");
  video.muted = true;
  video.preload = "metadata";
  video.src = item.url_root + item.url_part;
  video.setAttribute("aria-label", `Clip ${item.id}`);
  frame.append(video);
  const meta = document.createElement("div");
  meta.className = "meta";
  const title = document.createElement("div");
  title.append(strong(`Clip ${item.id}`), ` · camera ${item.camera_id} view ${item.view_id}`);
  // the clip's name (RISE's: camera, view, day, box, frames, times) is how people cite it
  meta.append(title, textEl("div", when(item), "muted"), textEl("div", item.file_name, "name muted"));
  if (token && "label_state" in item) {
    const states = document.createElement("div");
    states.className = "states";
    states.append("Volunteers ", chip(item.label_state), " · Researcher ", chip(item.label_state_admin));
    meta.append(states);
    const select = document.createElement("select");
    select.setAttribute("aria-label", `Researcher label for clip ${item.id}`);
    for (const [value, text] of CHOICES) select.append(new Option(text, value));
    const saved = document.createElement("span");
    saved.className = "small muted";
    saved.setAttribute("aria-live", "polite");
    select.addEventListener("change", async () => {
      if (!select.value) return;
      const label = Number(select.value);
      select.disabled = true;
      try {
        await api("/api/v1/set_label_state", { user_token: token, data: [{ video_id: item.id, label }] });
        item.label_state_admin = label === 1 ? 23 : label === 0 ? 16 : label;
        states.replaceChildren("Volunteers ", chip(item.label_state), " · Researcher ", chip(item.label_state_admin));
        saved.textContent = " Saved.";
      } catch (error) {
        saved.textContent = ` Not saved: ${describe(error)}`;
      }
      select.value = "";
      select.disabled = false;
    });
    meta.append(select, saved);
  }
  el.append(frame, meta);
  return el;
}

/** Show the clips of ``state``; ``asked``: the page asked for, past the last one. */
async function load(asked = null) {
  sync();
  const tab = TABS.find((t) => t.key === state.tab) || TABS[0];
  summary.textContent = "Loading…";
  message.hidden = true;
  const query = {
    pageNumber: state.page, pageSize: PAGE_SIZE,
    camera_id: state.camera, view_id: state.view, date: state.date,
  };
  try {
    if (tab.mine) {
      if (myId === null) {
        const t = token || (await volunteerToken());
        myId = (await api("/api/v1/get_user_info", { user_token: t })).data.user_id;
      }
      query.user_id = myId;
    }
    const path = `/api/v1/get_${tab.query}`;
    const { status, data } = token
      ? await api(path, undefined, { form: { user_token: token }, query })
      : await api(path, undefined, { method: "GET", query });
    if (status === 204 && state.page > 1 && asked === null) {
      // nothing on this page: past the last one (an address edited by hand, or clips gone
      // since)? Page 1 tells how many there are, then the last page is shown instead
      asked = state.page;
      state.page = 1;
      return load(asked);
    }
    const items = status === 204 ? [] : data.data;
    const total = status === 204 ? 0 : data.total ?? items.length;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    if (asked !== null && state.page < pages && asked > pages) {
      state.page = pages;
      return load(asked);
    }
    grid.replaceChildren(...items.map(card));
    summary.textContent = total ? `${total} clips · page ${state.page} of ${pages}` : "";
    if (!total) {
      message.className = "notice";
      message.textContent = tab.mine
        ? "You have not marked any clip as smoke yet (or those pages were not counted)."
        : "No clips here yet.";
      message.hidden = false;
    } else if (asked !== null && asked > pages) {
      message.className = "notice";
      message.textContent = `There is no page ${asked}: this is the last page, ${pages}.`;
      message.hidden = false;
    }
    document.getElementById("page-no").textContent = total ? `Page ${state.page} of ${pages}` : "";
    document.getElementById("prev").disabled = state.page <= 1;
    document.getElementById("next").disabled = state.page >= pages;
  } catch (error) {
    grid.replaceChildren();
    summary.textContent = "";
    message.className = "notice bad";
    message.textContent = `Could not load the gallery: ${describe(error)}`;
    message.hidden = false;
    if (error instanceof ApiError && error.status === 401) token = null;
  }
}

document.getElementById("prev").addEventListener("click", () => { state.page -= 1; load(); });
document.getElementById("next").addEventListener("click", () => { state.page += 1; load(); });
document.getElementById("camera").addEventListener("change", (e) => { state.camera = e.target.value; state.view = ""; drawFilters(); });
form.addEventListener("submit", (event) => {
  event.preventDefault();
  state.camera = form.camera.value;
  state.view = form.view.value;
  state.date = form.date.value;
  state.page = 1;
  load();
});
form.addEventListener("reset", (event) => {
  event.preventDefault();
  Object.assign(state, { camera: "", view: "", date: "", page: 1 });
  drawFilters();
  load();
});

async function start() {
  if (researcher()) {
    try {
      token = await researcherToken();
    } catch {
      token = null;
    }
  }
  if (!token && TABS.find((t) => t.key === state.tab)?.researcher) state.tab = "smoke";
  drawTabs();
  try {
    facets = (await api("/api/v1/get_clip_facets")).data;
  } catch {
    /* filters still work by hand */
  }
  drawFilters();
  await load();
}
start();
