// The events page (researchers): a day's smoke events from detection runs, per camera view, on a
// timeline (SVG, drawn here) with their evidence playing; confirm or reject each one, which
// labels its clips (researcher labels, through the service's label rules).
// Times come from the service already in the cameras' time zone (local_start, local_end), so
// what is shown does not depend on the browser's zone. Every text is set as text.
import { api, describe, researcherToken } from "./api.js";
import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const STATUS_TEXT = { open: "Open", confirmed: "Confirmed: smoke", rejected: "Rejected: no smoke" };
const message = document.getElementById("message");
const views = document.getElementById("views");
const dateInput = document.getElementById("date");
let token = null;
let day = null; // the last answer of get_events

function svg(name, attrs = {}, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

function say(kind, text) {
  message.className = `notice ${kind}`;
  message.textContent = text;
  message.hidden = false;
}

/** Hours since the local midnight of the shown day, read from the service's local ISO time. */
function hourOf(local, date) {
  const h = Number(local.slice(11, 13)) + Number(local.slice(14, 16)) / 60 + Number(local.slice(17, 19)) / 3600;
  return local.slice(0, 10) === date ? h : local.slice(0, 10) < date ? 0 : 24;
}

const clock = (local) => local.slice(11, 16);

function who(event) {
  if (event.status === "open") return STATUS_TEXT.open;
  return `${STATUS_TEXT[event.status]}${event.reviewer ? ` (${event.reviewer})` : ""}`;
}

function timeline(view, date) {
  const hours = view.events.flatMap((e) => [hourOf(e.local_start, date), hourOf(e.local_end, date)]);
  const lo = Math.min(6, Math.floor(Math.min(...hours)));
  const hi = Math.max(20, Math.ceil(Math.max(...hours)));
  // drawn at the width it is shown at, so its text stays readable on a phone
  const W = Math.max(300, Math.min(1100, views.clientWidth - 26)), H = 64, L = 28, R = 28, Y = 12, BAR = 24;
  const step = W < 600 ? 4 : 2;
  const x = (h) => L + ((W - L - R) * (h - lo)) / (hi - lo);
  const chart = svg("svg", { class: "timeline", viewBox: `0 0 ${W} ${H}`, role: "group" });
  chart.setAttribute("aria-label", `Timeline of camera ${view.camera_id}, view ${view.view_id}, ${lo}:00 to ${hi}:00`);
  chart.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: Y + BAR + 4, y2: Y + BAR + 4 }));
  for (let h = lo; h <= hi; h += step) {
    chart.append(svg("line", { class: "tick", x1: x(h), x2: x(h), y1: Y - 4, y2: Y + BAR + 8 }));
    chart.append(svg("text", { x: x(h), y: H - 2, "text-anchor": "middle" }, `${String(h).padStart(2, "0")}:00`));
  }
  for (const event of view.events) {
    const x0 = x(hourOf(event.local_start, date));
    const width = Math.max(6, x(hourOf(event.local_end, date)) - x0);
    const bar = svg("rect", { class: `span ${event.status}`, x: x0, y: Y, width, height: BAR, rx: 3, tabindex: 0, role: "button" });
    bar.dataset.eventId = String(event.id);
    bar.setAttribute("aria-label", `Event ${clock(event.local_start)} to ${clock(event.local_end)}, ${who(event)}`);
    bar.append(svg("title", {}, `${clock(event.local_start)}–${clock(event.local_end)} · ${who(event)}`));
    const pick = () => {
      const card = document.getElementById(`event-${event.id}`);
      for (const other of document.querySelectorAll(".event.picked")) other.classList.remove("picked");
      card.classList.add("picked");
      card.scrollIntoView({ block: "nearest" });
      card.querySelector("button")?.focus({ preventScroll: true });
    };
    bar.addEventListener("click", pick);
    bar.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === " ") {
        e.preventDefault();
        pick();
      }
    });
    chart.append(bar);
  }
  return chart;
}

function looping(url, label) {
  const video = document.createElement("video");
  for (const a of ["muted", "playsinline", "loop", "autoplay"]) video.setAttribute(a, "");
  video.muted = true;
  video.preload = "auto";
  video.src = url;
  video.setAttribute("aria-label", label);
  queueMicrotask(() => video.play?.().catch(() => {}));
  return video;
}

function evidence(event) {
  const box = document.createElement("div");
  box.className = "evidence";
  const clip = event.evidence_clip_url || event.clips[0]?.url;
  if (clip) box.append(looping(clip, `Evidence clip of event ${event.detection_id}`));
  if (event.evidence_gif_url) {
    const img = document.createElement("img");
    img.src = event.evidence_gif_url;
    img.alt = `Where the model saw smoke (Grad-CAM) in event ${event.detection_id}`;
    box.append(img);
  }
  if (!box.children.length) box.append(el("div", "No evidence was imported for this event.", "none"));
  if (box.children.length === 1) box.classList.add("single");
  return box;
}

function clipChips(event) {
  const chips = document.createElement("div");
  chips.className = "clips";
  for (const clip of event.clips) {
    const text = clip.label === 1 ? "smoke" : clip.label === 0 ? "no smoke" : "unlabeled";
    const kind = clip.label === 1 ? "state pos" : clip.label === 0 ? "state neg" : "state";
    const chip = el("span", `clip ${clip.id}: ${text}`, kind);
    chip.title = clip.file_name;
    chips.append(chip);
  }
  return chips;
}

function card(event) {
  const article = document.createElement("article");
  article.className = `event ${event.status}`;
  article.id = `event-${event.id}`;
  article.dataset.eventId = String(event.id);
  const meta = document.createElement("div");
  meta.className = "meta";
  const when = el("div", `${clock(event.local_start)}–${clock(event.local_end)} · highest probability ${event.max_probability.toFixed(2)}`);
  const id = document.createElement("div");
  id.append("Event ", el("span", event.detection_id, "id"));
  const status = el("div", who(event), "status");
  status.setAttribute("aria-live", "polite");
  const count = el("div", `${event.clips.length} clip${event.clips.length === 1 ? "" : "s"} to label:`, "muted small");
  meta.append(when, id, status, count, clipChips(event));
  const actions = document.createElement("div");
  actions.className = "actions";
  const confirm = el("button", "Confirm: smoke", "btn");
  const reject = el("button", "Reject: no smoke", "btn");
  for (const [button, verdict] of [[confirm, "confirmed"], [reject, "rejected"]]) {
    button.type = "button";
    button.dataset.verdict = verdict;
    button.setAttribute("aria-pressed", String(event.status === verdict));
    button.setAttribute("aria-label", `${button.textContent} (event ${event.detection_id})`);
    button.addEventListener("click", () => decide(event, verdict, article));
  }
  actions.append(confirm, reject);
  article.append(evidence(event), meta, actions);
  return article;
}

async function decide(event, verdict, article) {
  const buttons = article.querySelectorAll(".actions button");
  for (const b of buttons) b.disabled = true;
  try {
    const { data } = await api("/api/v1/set_event_status", { user_token: token, event_id: event.id, status: verdict });
    Object.assign(event, data);
    const fresh = card(event);
    article.replaceWith(fresh);
    const bar = document.querySelector(`.timeline .span[data-event-id="${event.id}"]`);
    if (bar) {
      bar.setAttribute("class", `span ${event.status}`);
      bar.setAttribute("aria-label", `Event ${clock(event.local_start)} to ${clock(event.local_end)}, ${who(event)}`);
      bar.querySelector("title").textContent = `${clock(event.local_start)}–${clock(event.local_end)} · ${who(event)}`;
    }
    fresh.querySelector(`button[data-verdict="${verdict}"]`)?.focus({ preventScroll: true });
    say("ok", `Event ${event.detection_id}: ${STATUS_TEXT[event.status].toLowerCase()}; its ${event.clips.length} clips are labeled.`);
  } catch (error) {
    for (const b of buttons) b.disabled = false;
    say("bad", `Could not save: ${describe(error)}`);
  }
}

function dayTitle(date) {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d)).toLocaleDateString(undefined, {
    weekday: "long", year: "numeric", month: "long", day: "numeric", timeZone: "UTC",
  });
}

function render(data) {
  day = data;
  document.getElementById("content").hidden = false;
  document.getElementById("zone").textContent = `Times in ${data.timezone}`;
  const previous = document.getElementById("previous-day");
  const next = document.getElementById("next-day");
  previous.disabled = !data.previous_date;
  next.disabled = !data.next_date;
  dateInput.value = data.date || "";
  document.getElementById("day-title").textContent = data.date ? dayTitle(data.date) : "No events yet";
  const count = data.views.reduce((n, v) => n + v.events.length, 0);
  document.getElementById("empty").hidden = count > 0 || !data.date;
  views.replaceChildren(
    ...data.views.map((view) => {
      const section = document.createElement("section");
      section.className = "view-events";
      section.dataset.view = `${view.camera_id}-${view.view_id}`;
      const n = view.events.length;
      section.append(el("h3", `Camera ${view.camera_id} · view ${view.view_id} · ${n} event${n === 1 ? "" : "s"}`));
      section.append(timeline(view, data.date));
      const list = document.createElement("div");
      list.className = "event-list";
      list.append(...view.events.map(card));
      section.append(list);
      return section;
    }),
  );
}

async function load(date) {
  try {
    const { data } = await api("/api/v1/get_events", { user_token: token, ...(date ? { date } : {}) });
    render(data);
    const url = new URL(window.location.href);
    if (data.date) url.searchParams.set("date", data.date);
    window.history.replaceState(null, "", url);
  } catch (error) {
    say("bad", `Could not load the events: ${describe(error)}`);
  }
}

document.getElementById("day-form").addEventListener("submit", (e) => {
  e.preventDefault();
  if (dateInput.value) load(dateInput.value);
});
document.getElementById("previous-day").addEventListener("click", () => day?.previous_date && load(day.previous_date));
document.getElementById("next-day").addEventListener("click", () => day?.next_date && load(day.next_date));

async function start() {
  try {
    token = await researcherToken();
  } catch (error) {
    say("bad", describe(error));
    return;
  }
  if (!token) {
    document.getElementById("signin").hidden = false;
    return;
  }
  const wanted = new URLSearchParams(window.location.search).get("date");
  await load(/^\d{4}-\d{2}-\d{2}$/.test(wanted || "") ? wanted : null);
}
start();
