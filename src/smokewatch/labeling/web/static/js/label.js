// The label page: a page of 16 looping clips; tap the ones with smoke, submit after the page's
// minimum viewing time. Answers are kept in localStorage until the service has them, so a
// failed submission is retried (and reported on screen), never silently dropped.
// A page's token expires (its exp - iat, an hour by default): a page about to expire is swapped
// for a fresh one before the volunteer spends work on it, and so is one fetched ahead that has
// grown old in the meantime.
import { api, ApiError, describe, lifetime, pageTimes, sleep, volunteerToken } from "./api.js";
import { arrowKeys, clipUrl, countdown, preload, tile } from "./clipgrid.js";
import { rich, strong } from "./dom.js";
import { markSettled, wasSettled } from "./settled.js";

const PENDING_KEY = "smokewatch.pendingPages";
const STREAK_KEY = "smokewatch.rejectedInARow";

const grid = document.getElementById("grid");
const statusLine = document.getElementById("status");
const counts = document.getElementById("counts");
const submitButton = document.getElementById("submit");
const resultBox = document.getElementById("result");
const pendingBox = document.getElementById("pending");
const suggest = document.getElementById("suggest-tutorial");
const empty = document.getElementById("empty");
const scoreLine = document.getElementById("user-score");

let token = null;
let page = null; // {items, video_token, wait, life, expiresAt, answers: Map(id -> 0/1), readyAt}
let nextPage = null; // a page fetched ahead, its clips already loading
let stopCountdown = () => {};
let sending = false;
let expiryTimer = null;

// --- answers kept until the service has them --------------------------------------------
function pendingPages() {
  try {
    return JSON.parse(localStorage.getItem(PENDING_KEY) || "[]");
  } catch {
    return [];
  }
}
function savePending(list) {
  localStorage.setItem(PENDING_KEY, JSON.stringify(list));
  showPending(list);
}
function showPending(list) {
  const n = list.length;
  pendingBox.hidden = n === 0;
  if (n) {
    pendingBox.textContent =
      `${n === 1 ? "One page of answers is" : `${n} pages of answers are`} saved on this device and ` +
      "not yet received by the server. They will be sent again automatically.";
  }
}
function keep(entry) {
  savePending([...pendingPages().filter((e) => e.video_token !== entry.video_token), entry]);
}
function drop(entry) {
  savePending(pendingPages().filter((e) => e.video_token !== entry.video_token));
}

// --- showing a page ------------------------------------------------------------------------
function updateCounts() {
  if (!page) return;
  const smoke = [...page.answers.values()].filter((v) => v === 1).length;
  counts.textContent = `${smoke} of ${page.items.length} marked smoke`;
}

async function fetchPage() {
  const { status, data } = await api("/api/v1/get_batch", { user_token: token });
  if (status === 204) return null;
  // the wait and the lifetime are counted from the page's arrival, whatever the clocks say
  const { wait, life, expiresAt } = pageTimes(data.video_token);
  return { items: data.data, video_token: data.video_token, wait, life, expiresAt, answers: new Map() };
}

/** A marked page is replaced this long before it expires (a submission needs the time). */
const LAST_CALL_MS = 5_000;

/** Milliseconds before its expiry at which a page is replaced: 2 minutes (less for short lives). */
function margin(p) {
  return Math.min(120_000, (p.life || 0) * 250);
}

/** Too close to its expiry to be worth a volunteer's time (``spare``: and to last that much more). */
function stale(p, spare = 0) {
  return p.expiresAt - Date.now() <= margin(p) + spare;
}

function show(newPage) {
  stopCountdown();
  clearTimeout(expiryTimer);
  page = newPage;
  grid.replaceChildren();
  empty.hidden = page !== null;
  document.getElementById("toolbar").hidden = page === null;
  if (!page) {
    statusLine.textContent = "";
    return;
  }
  page.readyAt = Date.now() + page.wait * 1000 + 250;
  grid.dataset.page = page.video_token.slice(-16); // which page is shown (tests and tools)
  page.items.forEach((item, index) => {
    page.answers.set(item.id, 0);
    const t = tile(clipUrl(item), {
      index,
      total: page.items.length,
      onToggle: (on) => {
        page.answers.set(item.id, on ? 1 : 0);
        updateCounts();
      },
    });
    t.dataset.videoId = String(item.id);
    grid.append(t);
  });
  updateCounts();
  submitButton.disabled = true;
  stopCountdown = countdown(
    page.readyAt,
    (left) => {
      statusLine.textContent = `Watch each clip: you can submit in ${left} s`;
      submitButton.textContent = `Submit (${left})`;
    },
    () => {
      submitButton.disabled = false;
      submitButton.textContent = "Submit";
      statusLine.textContent = "Mark every clip with smoke, then submit.";
    },
  );
  setTimeout(prefetch, 1500);
  if (Number.isFinite(page.expiresAt)) {
    expiryTimer = setTimeout(expire, Math.max(0, page.expiresAt - margin(page) - Date.now()));
  }
}

/** Replace the shown page, about to expire, with a fresh one (timers wait in a background tab,
 *  so this is also checked when the tab is shown again and on submitting). A page the
 *  volunteer has marked is not taken away at once: they are told to submit, and it is
 *  replaced only when it has nearly run out (it could not be taken after that). */
async function expire() {
  if (!page || sending || !stale(page)) return;
  const left = page.expiresAt - Date.now();
  const marked = [...page.answers.values()].some((v) => v === 1);
  if (marked && !page.warned && left > LAST_CALL_MS) {
    page.warned = true;
    report(
      "warn",
      "This page expires soon.",
      ` Submit it within ${Math.max(1, Math.floor(left / 60_000))} minute(s) to keep your marks;` +
        " after that it is replaced with new clips.",
    );
    clearTimeout(expiryTimer);
    expiryTimer = setTimeout(expire, left - LAST_CALL_MS);
    return;
  }
  const old = page;
  sending = true; // no submission while the page is replaced
  submitButton.disabled = true;
  try {
    await loadNext();
  } finally {
    sending = false;
  }
  if (!page) return; // none left: "All caught up" says so
  report(
    "warn",
    "This page expired; here are new clips.",
    ` A page is kept for you for ${lifetime(old.life)}; the old one's clips go back to the other volunteers.`,
  );
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) expire();
});

async function prefetch() {
  if (!page || nextPage) return;
  const shownToken = page.video_token;
  try {
    const candidate = await fetchPage();
    if (!candidate || !page || page.video_token !== shownToken) return;
    // a clip on both pages would be labeled twice by this volunteer: ask again after submitting
    const ids = new Set(page.items.map((i) => i.id));
    if (candidate.items.some((i) => ids.has(i.id))) return;
    nextPage = candidate;
    preload(candidate.items.map(clipUrl));
  } catch {
    /* prefetching is only a speed-up */
  }
}

async function loadNext() {
  // a page fetched ahead, if not so long ago that it would soon be replaced in its turn
  const ready = nextPage && !stale(nextPage, margin(nextPage)) ? nextPage : null;
  nextPage = null;
  if (ready) {
    show(ready);
    return;
  }
  statusLine.textContent = "Loading clips…";
  grid.replaceChildren();
  for (let attempt = 0; ; attempt++) {
    try {
      show(await fetchPage());
      return;
    } catch (error) {
      if (error instanceof ApiError && error.status === 401 && attempt === 0) {
        token = await volunteerToken({ fresh: true });
        continue;
      }
      statusLine.textContent = `Could not load clips: ${describe(error)} Retrying…`;
      await sleep(Math.min(30_000, 2000 * 2 ** attempt));
    }
  }
}

// --- sending answers -----------------------------------------------------------------------
async function showScore(batch) {
  try {
    const info = (await api("/api/v1/get_user_info", { user_token: token })).data;
    const reliability = info.reliability === null ? "–" : `${Math.round(info.reliability * 100)}%`;
    scoreLine.textContent = `Score ${info.score} · reliability ${reliability}`;
    return { info, reliability };
  } catch {
    return null;
  }
}

/** A way to show an outcome: a bold heading, then plain text (or nodes from rich()).
 *  ``focus``: move the focus (and the view) to it, for what the volunteer has just done; a page
 *  sent again in the background, while they work on the next, only updates the live region. */
function outcome({ focus }) {
  return (kind, heading, ...rest) => {
    resultBox.className = `notice ${kind}`;
    resultBox.replaceChildren(strong(heading), ...rest);
    resultBox.hidden = false;
    if (focus) resultBox.focus({ preventScroll: false });
  };
}
const report = outcome({ focus: true });
const quietly = outcome({ focus: false });

async function afterScore(score, say) {
  const accepted = score.batch !== null && score.batch > 0;
  const streak = accepted ? 0 : Number(localStorage.getItem(STREAK_KEY) || 0) + 1;
  localStorage.setItem(STREAK_KEY, String(streak));
  suggest.hidden = streak < 3;
  const me = await showScore();
  const rel = me
    ? rich(" Your score is ", strong(String(me.info.score)), "; reliability ", strong(me.reliability),
      ` (${me.info.pages_accepted} of ${me.info.pages_submitted} pages accepted).`)
    : "";
  if (accepted) {
    say("ok", `Page accepted: +${score.batch} points.`, rel);
  } else {
    say(
      "bad",
      "This page was not counted.",
      " Some clips whose answers we know were labeled differently, so none of its answers were recorded.",
      rel,
    );
  }
}

// A kept page is sent by one caller at a time: the submit, the retry timer, the "online" event
// and another tab of this site may all reach for it, and a second copy sent while the first is
// on its way is answered 409, which would hide the first one's real outcome.
const inFlight = new Map(); // video_token -> the promise of its send (this tab)
const acceptedHere = new Set(); // video_tokens this tab has had a 200 for

function isPending(entry) {
  return pendingPages().some((e) => e.video_token === entry.video_token);
}

/** Send one kept page; true when it is settled (taken or refused for good). ``interactive``:
 *  the volunteer has just submitted it (its outcome takes the focus). A page already on its
 *  way from this tab is not sent again (its send's promise is shared), nor one another tab is
 *  sending (a lock per page, where the browser has them; then it is settled if that tab's
 *  send took it off the list). */
function send(entry, { interactive = false } = {}) {
  let promise = inFlight.get(entry.video_token);
  if (!promise) {
    const say = interactive ? report : quietly;
    const once = async () => {
      // settled by another tab while this one waited for the lock: its drop may not have
      // reached this tab's localStorage yet, its mark (settled.js) has
      if (!isPending(entry) || (await wasSettled(entry.video_token))) {
        if (isPending(entry)) drop(entry);
        if (interactive) say("ok", "These answers were sent from another tab.", " See that tab for the outcome.");
        return true;
      }
      return post(entry, say);
    };
    promise = (navigator.locks ? navigator.locks.request(`smokewatch.send.${entry.video_token}`, once) : once())
      .finally(() => inFlight.delete(entry.video_token));
    inFlight.set(entry.video_token, promise);
  }
  return promise;
}

async function post(entry, say) {
  try {
    const { data } = await api("/api/v1/send_batch", {
      user_token: entry.user_token,
      video_token: entry.video_token,
      data: entry.data,
    });
    acceptedHere.add(entry.video_token);
    await markSettled(entry.video_token); // before the lock is let go: the next holder sees it
    drop(entry);
    await afterScore(data.data.score, say);
    return true;
  } catch (error) {
    if (!(error instanceof ApiError) || error.status >= 500 || error.status === 429) {
      keep(entry); // offline, timed out or a server error: keep it and try again
      return false;
    }
    if (error.status === 425) {
      const seconds = Number((error.message.match(/(\d+) s/) || [])[1] || 2);
      await sleep(seconds * 1000 + 300);
      return post(entry, say);
    }
    await markSettled(entry.video_token); // refused for good: no tab should send it again
    drop(entry);
    if (error.status === 409) {
      // a copy this tab saw taken: its outcome (already shown) is the real one
      if (!acceptedHere.has(entry.video_token)) {
        say("ok", "These answers had already been received.", " They were counted once.");
      }
    } else if (error.status === 401) {
      // the page's token has expired (or is no longer valid): the server will never take it
      say(
        "bad",
        "This page had expired, so its answers could not be recorded.",
        ` A page is kept for you for ${lifetime(entry.life)}; please submit each page within that time.` +
          (say === report ? " Here are new clips." : ""),
      );
    } else {
      say("bad", "These answers could not be recorded:", ` ${error.message}`);
    }
    return true;
  }
}

let retryTimer = null;
let flushing = null; // the flush under way, if any
let flushAgain = false; // asked for while one was under way: go over the list once more

/** Send every kept page, one flush at a time: one asked for while another runs waits for it
 *  and then has the list gone over again (it may hold a page kept since). */
function flushPending(attempt = 0) {
  if (flushing) {
    flushAgain = true;
    return flushing;
  }
  flushing = (async () => {
    let ok = true;
    do {
      flushAgain = false;
      ok = await flushOnce(attempt);
    } while (ok && flushAgain);
    return ok;
  })().finally(() => {
    flushing = null;
  });
  return flushing;
}

async function flushOnce(attempt) {
  clearTimeout(retryTimer);
  // shown, not written back: another tab may have sent (and dropped) a page since this
  // tab's copy of the list was read, and writing that copy would bring the page back
  const list = pendingPages();
  showPending(list);
  for (const entry of list) {
    if (inFlight.has(entry.video_token)) continue; // its sender reports it (and retries it)
    if (!(await send(entry))) {
      const delay = Math.min(60_000, 2000 * 2 ** attempt);
      pendingBox.textContent += ` Next try in ${Math.round(delay / 1000)} s.`;
      retryTimer = setTimeout(() => flushPending(attempt + 1), delay);
      return false;
    }
  }
  return true;
}
window.addEventListener("online", () => flushPending());

async function submit() {
  if (!page || sending || submitButton.disabled) return;
  if (page.expiresAt <= Date.now()) {
    expire(); // too late to be taken: new clips instead of a refusal
    return;
  }
  sending = true;
  submitButton.disabled = true;
  statusLine.textContent = "Sending your answers…";
  const entry = {
    user_token: token,
    video_token: page.video_token,
    data: page.items.map((item) => ({ video_id: item.id, label: page.answers.get(item.id) })),
    at: Date.now(),
    life: page.life,
  };
  keep(entry); // on this device first: a failure below loses nothing
  const settled = await send(entry, { interactive: true });
  if (!settled) {
    report(
      "warn",
      "Your answers are saved on this device.",
      " The server could not be reached; they will be sent as soon as it can.",
    );
    flushPending(1);
  }
  sending = false;
  await loadNext();
}

submitButton.addEventListener("click", submit);
arrowKeys(grid, ".tile");

async function start() {
  try {
    token = await volunteerToken();
  } catch (error) {
    statusLine.textContent = `Could not sign in: ${describe(error)}`;
    setTimeout(start, 5000);
    return;
  }
  suggest.hidden = Number(localStorage.getItem(STREAK_KEY) || 0) < 3;
  await flushPending();
  showScore();
  await loadNext();
}
start();
