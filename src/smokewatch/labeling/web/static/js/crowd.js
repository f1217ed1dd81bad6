// A crowd worker's task page: opened by the platform (MTurk: ?workerId&assignmentId&hitId;
// Prolific: ?PROLIFIC_PID&STUDY_ID&SESSION_ID; plus ?study=N). The worker joins the study,
// passes the tutorial first (the qualification), labels one task of 16 clips and gets a
// completion code to paste into the platform. Ids from the URL are only ever text.
import { api, ApiError, describe, setCrowdSession } from "./api.js";
import { arrowKeys, clipUrl, countdown, tile } from "./clipgrid.js";
import { rich, strong } from "./dom.js";

const params = new URLSearchParams(window.location.search);
const grid = document.getElementById("grid");
const toolbar = document.getElementById("toolbar");
const statusLine = document.getElementById("status");
const counts = document.getElementById("counts");
const submitButton = document.getElementById("submit");
const message = document.getElementById("message");
const qualify = document.getElementById("qualify");
const done = document.getElementById("done");

function worker() {
  const study = Number.parseInt(params.get("study") || "", 10);
  if (params.get("workerId")) {
    return { study, platform: "mturk", worker: params.get("workerId"),
             assignment: params.get("assignmentId"), hit: params.get("hitId") };
  }
  if (params.get("PROLIFIC_PID")) {
    return { study, platform: "prolific", worker: params.get("PROLIFIC_PID"),
             assignment: params.get("SESSION_ID"), hit: params.get("STUDY_ID") };
  }
  return { study, platform: "other", worker: params.get("worker"),
           assignment: params.get("assignment"), hit: params.get("hit") };
}

function note(text, kind = "") {
  message.dataset.notice = ""; // not the time left (timeNotice marks its own)
  message.className = `notice ${kind}`.trim();
  message.replaceChildren(typeof text === "string" ? document.createTextNode(text) : text);
  message.hidden = false;
}

function say(text, kind = "") {
  note(text, kind);
  message.focus();
}

const me = worker();
let token = null;
let task = null;
let deadline = null;
const answers = new Map();

// The assignment's hold: answers sent after it are refused (410), as its task may be another
// worker's by then; the worker is told before starting, the notice is kept true minute by
// minute, and the last minutes are a warning.
const LAST_MINUTES_MS = 5 * 60_000;
let clockTimer = null;
let warnedLast = false; // the last minutes' warning has been shown (over any other message)

function timeLeft() {
  const left = deadline - Date.now();
  if (left <= 0) {
    return ["Your time for this task is up: it may go to another worker, and answers sent now may be refused.", "bad"];
  }
  const minutes = Math.ceil(left / 60_000);
  if (left <= LAST_MINUTES_MS) {
    return [`Only ${minutes} min left to submit this task! After that it goes to another worker.`, "bad"];
  }
  return [`You have ${minutes} min left to submit this task; after that it goes to another worker.`, "warn"];
}

/** Show the time left, and again each time its minute count changes. Another message shown
 *  meanwhile (a failed submit's) is left alone, except by the last minutes' warning. */
function timeNotice() {
  clearTimeout(clockTimer);
  if (deadline === null) return;
  const left = deadline - Date.now();
  const urgent = left <= LAST_MINUTES_MS;
  if (message.dataset.notice === "time" || (urgent && !warnedLast)) {
    const [text, kind] = timeLeft();
    note(text, kind);
    message.dataset.notice = "time";
    warnedLast = urgent;
  }
  // the count is whole minutes rounded up: it changes when the time left is a whole minute
  if (left > 0) clockTimer = setTimeout(timeNotice, left % 60_000 || 60_000);
}
// timers wait in a background tab: bring the notice up to date when the tab is shown
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) timeNotice();
});

// A submitted assignment: its completion code (the same on a resend or a reload).
function finish(code) {
  deadline = null; // no more time notices
  clearTimeout(clockTimer);
  grid.replaceChildren();
  toolbar.hidden = true;
  document.getElementById("code").textContent = code;
  done.hidden = false;
  setCrowdSession(null);
  done.querySelector("h2").focus?.();
}

function updateCounts() {
  const smoke = [...answers.values()].filter((v) => v === 1).length;
  counts.textContent = `${smoke} of ${task.data.length} marked smoke`;
}

function show(found) {
  task = found;
  grid.replaceChildren();
  toolbar.hidden = false;
  task.data.forEach((item, index) => {
    answers.set(item.id, 0);
    grid.append(tile(clipUrl(item), {
      index,
      total: task.data.length,
      onToggle: (on) => { answers.set(item.id, on ? 1 : 0); updateCounts(); },
    }));
  });
  arrowKeys(grid, ".tile");
  updateCounts();
  deadline = Date.now() + task.seconds_left * 1000;
  message.dataset.notice = "time";
  timeNotice();
  countdown(Date.now() + task.wait_seconds * 1000, (left) => {
    statusLine.textContent = `Look at every clip; you can submit in ${left} s.`;
  }, () => {
    statusLine.textContent = "Mark every clip with smoke, then submit.";
    submitButton.disabled = false;
  });
}

async function fetchTask() {
  qualify.hidden = true;
  const body = { user_token: token, study_id: me.study, platform: me.platform,
                 worker_id: me.worker, assignment_id: me.assignment };
  if (me.hit) body.hit_id = me.hit;
  try {
    const { status, data } = await api("/api/v1/crowd/get_task", body);
    if (status === 204) {
      say("There is no task left for you in this study. Thank you! Please return the assignment.");
      return;
    }
    if (data.completion_code) {  // submitted already (a lost code): the same code again
      finish(data.completion_code);
      return;
    }
    show(data);
  } catch (error) {
    if (error instanceof ApiError && error.status === 403 && /tutorial/i.test(error.message)) {
      qualify.hidden = false;
      return;
    }
    say(describe(error), "bad");
  }
}

async function start() {
  if (!Number.isInteger(me.study) || !me.worker) {
    say("This page is opened from a crowd platform's task link (it names the study and you).", "warn");
    return;
  }
  if (!me.assignment || me.assignment === "ASSIGNMENT_ID_NOT_AVAILABLE") {
    say("This is a preview. Accept the task on the platform to start labeling.", "warn");
    return;
  }
  try {
    const { data } = await api("/api/v1/crowd/join", {
      study_id: me.study, platform: me.platform, worker_id: me.worker,
    });
    token = data.user_token;
    document.getElementById("study-name").textContent = data.study.name;
    if (data.study.reward_cents) {
      document.getElementById("reward").textContent = `Reward ${(data.study.reward_cents / 100).toFixed(2)}`;
    }
    setCrowdSession({ token, back: window.location.pathname + window.location.search });
  } catch (error) {
    say(describe(error), "bad");
    return;
  }
  await fetchTask();
}

submitButton.addEventListener("click", async () => {
  submitButton.disabled = true;
  statusLine.textContent = "Sending…";
  try {
    const { data } = await api("/api/v1/crowd/submit_task", {
      user_token: token,
      assignment_id: task.assignment_id,
      data: [...answers].map(([video_id, label]) => ({ video_id, label })),
    });
    message.hidden = true;
    finish(data.completion_code);
  } catch (error) {
    submitButton.disabled = false;
    statusLine.textContent = "";
    say(rich(strong("Not sent: "), describe(error)), "bad");
  }
});

document.getElementById("copy").addEventListener("click", async () => {
  const text = document.getElementById("code").textContent;
  try {
    await navigator.clipboard.writeText(text);
    say("Copied.", "ok");
  } catch {
    const range = document.createRange();
    range.selectNodeContents(document.getElementById("code"));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
});

document.getElementById("recheck").addEventListener("click", fetchTask);
start();
