// The review page (researchers): a page of clips with the volunteers' answers as priors.
// Agree with all, override a clip, mark it bad or gold; keyboard-driven. Answers go through
// send_batch (researcher pages set the researcher state: 1/0, 47/32 gold, -2 bad).
// A page's token expires (exp - iat, an hour by default) and the server never takes it after
// that: the reviewer is warned before, and an expired page is replaced with a fresh one.
import { api, ApiError, describe, lifetime, pageTimes, researcher, researcherToken } from "./api.js";
import { arrowKeys, clipUrl, countdown, tile } from "./clipgrid.js";
import { el } from "./dom.js";

const grid = document.getElementById("grid");
const statusLine = document.getElementById("status");
const counts = document.getElementById("counts");
const submitButton = document.getElementById("submit");
const agreeButton = document.getElementById("agree-all");
const resultBox = document.getElementById("result");

// citizen state -> what the volunteers said so far
const PRIORS = {
  "-1": [null, "no answers yet"],
  3: [null, "volunteers disagree"],
  4: [false, "one said no smoke"],
  5: [true, "one said smoke"],
  16: [false, "no smoke (two agreed)"],
  23: [true, "smoke (two agreed)"],
  20: [false, "no smoke (2 of 3)"],
  19: [true, "smoke (2 of 3)"],
  12: [false, "no smoke"],
  15: [true, "smoke"],
};

let token = null;
let page = null; // {items, video_token, life, expiresAt, clips: Map(id -> {prior, smoke, bad, gold, el})}
let stopCountdown = () => {};
let busy = false;
let expiryTimer = null;

/** Milliseconds before its expiry at which the reviewer is warned: 5 minutes (a quarter of
 *  the page's life, for short lives), time enough to finish the page and submit it. */
function margin(p) {
  return Math.min(300_000, (p.life || 0) * 250);
}

function code(c) {
  if (c.bad) return -2;
  if (c.gold) return c.smoke ? 47 : 32;
  return c.smoke ? 1 : 0;
}

function paint(c) {
  c.button.setAttribute("aria-pressed", String(c.smoke));
  c.el.classList.toggle("smoke", c.smoke && !c.bad);
  c.el.classList.toggle("bad-clip", c.bad);
  c.el.classList.toggle("gold-clip", c.gold);
  c.badBtn.setAttribute("aria-pressed", String(c.bad));
  c.goldBtn.setAttribute("aria-pressed", String(c.gold));
  const overridden = c.prior !== null && c.prior !== c.smoke;
  c.priorLine.replaceChildren(`Volunteers: ${c.priorText}`, ...(overridden ? [" · ", el("span", "overridden", "overridden")] : []));
  c.button.querySelector(".mark").textContent = c.bad ? "Bad clip" : c.gold ? `Gold: ${c.smoke ? "smoke" : "no smoke"}` : "Smoke";
  const n = [...page.clips.values()];
  const changed = n.filter((x) => x.prior !== null && x.prior !== x.smoke).length;
  counts.textContent = `${n.filter((x) => x.smoke).length} smoke · ${changed} overridden · ` +
    `${n.filter((x) => x.bad).length} bad · ${n.filter((x) => x.gold).length} gold`;
}

function show(data) {
  stopCountdown();
  clearTimeout(expiryTimer);
  grid.replaceChildren();
  document.getElementById("empty").hidden = data !== null;
  if (!data) {
    page = null;
    statusLine.textContent = "";
    return;
  }
  const { wait, life, expiresAt } = pageTimes(data.video_token);
  page = { items: data.data, video_token: data.video_token, life, expiresAt, clips: new Map() };
  data.data.forEach((item, index) => {
    const [prior, priorText] = PRIORS[String(item.label_state)] || [null, `state ${item.label_state}`];
    const el = document.createElement("div");
    el.className = "review-tile";
    el.dataset.videoId = String(item.id);
    const button = tile(clipUrl(item), { index, total: data.data.length });
    const priorLine = document.createElement("div");
    priorLine.className = "prior";
    const actions = document.createElement("div");
    actions.className = "actions";
    const badBtn = document.createElement("button");
    badBtn.type = "button";
    badBtn.textContent = "Bad";
    badBtn.setAttribute("aria-label", `Mark clip ${index + 1} bad`);
    const goldBtn = document.createElement("button");
    goldBtn.type = "button";
    goldBtn.textContent = "Gold";
    goldBtn.setAttribute("aria-label", `Make clip ${index + 1} a gold standard`);
    actions.append(badBtn, goldBtn);
    el.append(button, priorLine, actions);
    const clip = { prior, priorText, smoke: prior === true, bad: false, gold: false, el, button, priorLine, badBtn, goldBtn };
    page.clips.set(item.id, clip);
    button.addEventListener("click", () => {
      // tile() flipped aria-pressed; keep our state the source of truth
      clip.smoke = button.getAttribute("aria-pressed") === "true";
      paint(clip);
    });
    badBtn.addEventListener("click", () => { clip.bad = !clip.bad; if (clip.bad) clip.gold = false; paint(clip); });
    goldBtn.addEventListener("click", () => { clip.gold = !clip.gold; if (clip.gold) clip.bad = false; paint(clip); });
    grid.append(el);
    paint(clip);
  });
  document.getElementById("page-info").textContent = `${data.data.length} clips`;
  submitButton.disabled = true;
  agreeButton.disabled = true;
  const readyAt = Date.now() + wait * 1000 + 250;
  stopCountdown = countdown(
    readyAt,
    (left) => { statusLine.textContent = `You can submit in ${left} s`; },
    () => {
      submitButton.disabled = false;
      agreeButton.disabled = false;
      statusLine.textContent = "Ready to submit.";
    },
  );
  grid.querySelector(".tile")?.focus({ preventScroll: true });
  if (Number.isFinite(expiresAt)) {
    expiryTimer = setTimeout(warnExpiry, Math.max(0, expiresAt - margin(page) - Date.now()));
  }
}

/** The page expires soon: say so while there is time to submit it, then replace it when it
 *  has run out (the server would refuse it, and choices left on it could never be saved). */
function warnExpiry() {
  if (!page) return;
  const left = page.expiresAt - Date.now();
  if (left <= 0) {
    expired();
    return;
  }
  const minutes = Math.max(1, Math.floor(left / 60_000));
  report("warn", `This page expires in ${minutes === 1 ? "about a minute" : `${minutes} minutes`}. ` +
    "Submit it before then to save your choices; after that it is replaced with new clips.");
  clearTimeout(expiryTimer);
  expiryTimer = setTimeout(expired, left);
}

/** The page has expired (or the server says its token is no longer valid): new clips. Not
 *  while a submission is under way: its answer says what became of the page. */
async function expired() {
  if (!page || busy) return;
  const old = page;
  clearTimeout(expiryTimer);
  report("bad", `This page expired before it was saved, so its choices could not be recorded. ` +
    `A page is kept for you for ${lifetime(old.life)}; here are new clips.`);
  await load();
}

// timers wait in a background tab: check again when the tab is shown
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && page && page.expiresAt <= Date.now()) expired();
});

async function load() {
  statusLine.textContent = "Loading clips…";
  try {
    const { status, data } = await api("/api/v1/get_batch", { user_token: token });
    show(status === 204 ? null : data);
  } catch (error) {
    statusLine.textContent = `Could not load clips: ${describe(error)}`;
  }
}

function report(kind, text) {
  resultBox.className = `notice ${kind}`;
  resultBox.textContent = text;
  resultBox.hidden = false;
}

async function submit() {
  if (!page || busy || submitButton.disabled) return;
  if (page.expiresAt <= Date.now()) {
    expired(); // too late to be taken: new clips instead of a refusal
    return;
  }
  busy = true;
  submitButton.disabled = true;
  agreeButton.disabled = true;
  const clips = [...page.clips.entries()];
  const data = clips.map(([id, c]) => ({ video_id: id, label: code(c) }));
  const overridden = clips.filter(([, c]) => c.prior !== null && c.prior !== c.smoke).length;
  try {
    await api("/api/v1/send_batch", { user_token: token, video_token: page.video_token, data });
    report("ok", `Saved ${data.length} researcher labels (${overridden} overridden, ` +
      `${clips.filter(([, c]) => c.bad).length} bad, ${clips.filter(([, c]) => c.gold).length} gold).`);
    busy = false;
    await load();
  } catch (error) {
    busy = false;
    submitButton.disabled = false;
    agreeButton.disabled = false;
    if (error instanceof ApiError && error.status === 409) {
      report("ok", "This page had already been saved.");
      await load();
      return;
    }
    if (error instanceof ApiError && error.status === 401) {
      if (!researcher()) {
        // the researcher's own sign-in ran out (researcher() signs an expired one out)
        report("bad", "Your sign-in has expired, so this page could not be saved. Sign in again to go on reviewing.");
        document.getElementById("signin").hidden = false;
        return;
      }
      // the page's token has expired (or is no longer valid): the server will never take it
      await expired();
      return;
    }
    report("bad", `Could not save this page: ${describe(error)} Your choices are still here; submit again.`);
  }
}

function agreeAll() {
  if (!page) return;
  for (const c of page.clips.values()) {
    c.smoke = c.prior === true;
    c.bad = false;
    c.gold = false;
    paint(c);
  }
  submit();
}

submitButton.addEventListener("click", submit);
agreeButton.addEventListener("click", agreeAll);
arrowKeys(grid, ".tile", (event, element) => {
  const id = Number(element.closest(".review-tile").dataset.videoId);
  const c = page?.clips.get(id);
  if (!c) return;
  const key = event.key.toLowerCase();
  if (key === "b") c.bad = !c.bad, c.bad && (c.gold = false);
  else if (key === "g") c.gold = !c.gold, c.gold && (c.bad = false);
  else if (key === "u") Object.assign(c, { smoke: c.prior === true, bad: false, gold: false });
  else if (event.key === "Enter") { event.preventDefault(); submit(); return; }
  else return;
  event.preventDefault();
  paint(c);
});

async function start() {
  try {
    token = await researcherToken();
  } catch (error) {
    statusLine.textContent = describe(error);
    return;
  }
  if (!token) {
    document.getElementById("signin").hidden = false;
    document.querySelector(".toolbar").hidden = true;
    return;
  }
  await load();
}
start();
