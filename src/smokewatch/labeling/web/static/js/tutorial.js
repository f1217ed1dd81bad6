// The tutorial: lessons from the service's lessons file, each a small labeling task; after each
// check, the right answers, an explanation per clip and the smoke highlighted on the clip.
// Records (add_tutorial_record) with RISE's codes, as its own tutorial page sent them:
//   on arrival (0, 0): took the tutorial, recorded on the tutorial page; before it, where the
//   volunteer came from, as RISE's label page recorded it: (0, 1) a tutorial button or link on
//   a page (?from=button), (0, 2) the prompt after three rejected pages (?from=prompt).
//   On finishing (action, 0), by the tries the final lesson took: 4 the first, 3 the second,
//   2 the third, 1 more (RISE: "did not pass the last batch").
import { api, describe, sleep, volunteerToken } from "./api.js";
import { arrowKeys, showRegions, tile } from "./clipgrid.js";
import { strong } from "./dom.js";

const grid = document.getElementById("grid");
const title = document.getElementById("lesson-title");
const intro = document.getElementById("lesson-intro");
const hintBox = document.getElementById("hint");
const feedback = document.getElementById("feedback");
const statusLine = document.getElementById("status");
const progress = document.getElementById("progress");
const buttons = {
  check: document.getElementById("check"),
  next: document.getElementById("next"),
  retry: document.getElementById("retry"),
  retryHints: document.getElementById("retry-hints"),
  save: document.getElementById("save-again"),
};
const done = document.getElementById("done");

const from = new URLSearchParams(window.location.search).get("from");
const ON_THE_TUTORIAL_PAGE = 0;
const cameFrom = from === "prompt" ? 2 : from === "button" ? 1 : null;

let lessons = [];
let current = 0;
let answers = new Map();
let tiles = new Map();
let mistakes = false; // any lesson failed at least once (for the closing words only)
let finalFailures = 0;
let token = null;
let outcome = null; // the final record (its action type), once the last lesson is passed

/** Send a record, trying a few times: {saved: true} once the server has it, else {saved:
 *  false, error} (for the caller to say: a crowd worker's final record is the qualification). */
async function record(actionType, queryType = ON_THE_TUTORIAL_PAGE) {
  let failure = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    if (attempt) {
      statusLine.textContent = `Could not save your progress (${describe(failure)}); retrying…`;
      await sleep(1000 * 2 ** (attempt - 1));
    }
    try {
      token = token || (await volunteerToken());
      await api("/api/v1/add_tutorial_record", {
        user_token: token,
        action_type: actionType,
        query_type: queryType,
      });
      return { saved: true };
    } catch (error) {
      failure = error;
    }
  }
  return { saved: false, error: failure };
}

function drawProgress() {
  progress.replaceChildren(
    ...lessons.map((lesson, i) => {
      const li = document.createElement("li");
      li.className = i < current ? "done" : i === current ? "current" : "";
      li.setAttribute("aria-label", `${lesson.title}${i < current ? " (done)" : i === current ? " (current)" : ""}`);
      return li;
    }),
  );
}

function setButtons(visible) {
  for (const [name, button] of Object.entries(buttons)) button.hidden = !visible.includes(name);
}

/** Show the current lesson; ``focus``: move the focus to its title, as the button pressed to
 *  get here (Try again, Next lesson, Start over) is hidden now. */
function showLesson(withHints = false, { focus = false } = {}) {
  const lesson = lessons[current];
  title.textContent = `Lesson ${current + 1} of ${lessons.length}: ${lesson.title}`;
  intro.textContent = lesson.intro;
  feedback.hidden = true;
  hintBox.hidden = !withHints;
  hintBox.replaceChildren(...(withHints ? [strong("Hint:"), ` ${lesson.hint}`] : []));
  drawProgress();
  grid.replaceChildren();
  answers = new Map();
  tiles = new Map();
  lesson.clips.forEach((clip, index) => {
    answers.set(clip.id, false);
    const t = tile(clip.url, {
      index,
      total: lesson.clips.length,
      onToggle: (on) => answers.set(clip.id, on),
    });
    t.dataset.clipId = clip.id;
    if (withHints) showRegions(t, clip.regions);
    tiles.set(clip.id, t);
    grid.append(t);
  });
  setButtons(["check"]);
  buttons.check.disabled = false;
  statusLine.textContent = "Mark the clips with smoke, then check your answers.";
  if (focus) {
    title.focus({ preventScroll: true });
    title.scrollIntoView({ behavior: "smooth", block: "start" });
  }
}

function explain(t, text) {
  const p = document.createElement("span"); // inside a <button>: phrasing content only
  p.className = "explanation";
  p.textContent = text;
  t.append(p);
}

async function check() {
  const lesson = lessons[current];
  let right = 0;
  for (const clip of lesson.clips) {
    const t = tiles.get(clip.id);
    const ok = answers.get(clip.id) === clip.smoke;
    right += ok;
    t.disabled = true;
    t.classList.add(ok ? "right" : "wrong");
    const badge = t.querySelector(".badge");
    badge.classList.add(ok ? "right" : "wrong");
    badge.textContent = ok ? "✓ Right" : "✗ Wrong";
    t.querySelector(".mark").textContent = clip.smoke ? "Smoke" : "No smoke";
    t.setAttribute("aria-label", `Clip ${lesson.clips.indexOf(clip) + 1}: ${clip.smoke ? "smoke" : "no smoke"}, ` +
      `${ok ? "you were right" : "you were wrong"}. ${clip.explanation}`);
    showRegions(t, clip.regions);
    explain(t, clip.explanation);
  }
  const all = right === lesson.clips.length;
  const last = current === lessons.length - 1;
  feedback.className = `notice ${all ? "ok" : "bad"}`;
  feedback.hidden = false;
  if (all) {
    feedback.replaceChildren(strong(`All ${right} right!`), " The yellow boxes show where the smoke is.");
    setButtons(["next"]);
    buttons.next.textContent = last ? "Finish the tutorial" : "Next lesson";
    statusLine.textContent = "";
    buttons.next.focus();
  } else {
    feedback.replaceChildren(
      strong(`${right} of ${lesson.clips.length} right.`),
      " Read the explanations under each clip (the yellow boxes show the smoke), then try again.",
    );
    mistakes = true;
    if (last) finalFailures += 1;
    setButtons(["retry", "retryHints"]);
    statusLine.textContent = "";
    buttons.retry.focus();
  }
}

async function next() {
  if (current < lessons.length - 1) {
    current += 1;
    showLesson(false, { focus: true });
    return;
  }
  const tries = finalFailures + 1;
  outcome = tries <= 3 ? 5 - tries : 1;
  setButtons([]);
  grid.replaceChildren();
  hintBox.hidden = true;
  feedback.hidden = true;
  current = lessons.length;
  drawProgress();
  title.textContent = "Well done!";
  intro.textContent = "";
  done.hidden = false;
  document.getElementById("done-text").textContent =
    !mistakes
      ? "You got every lesson right the first time. You are ready to label."
      : "You finished every lesson. Smoke can be subtle: when in doubt, watch the clip loop a few times.";
  await saveResult();
}

/** Record the final result; when the server never got it, say so and offer to try again
 *  (never "saved": for a crowd worker this record is what lets them work). */
async function saveResult() {
  setButtons([]);
  statusLine.textContent = "Saving your result…";
  const { saved, error } = await record(outcome);
  if (saved) {
    statusLine.textContent = "Your result is saved.";
    done.querySelector("a").focus();
    return;
  }
  statusLine.textContent = `Your result was not saved. ${describe(error)}`;
  setButtons(["save"]);
  buttons.save.focus();
}

buttons.check.addEventListener("click", check);
buttons.next.addEventListener("click", next);
buttons.retry.addEventListener("click", () => showLesson(false, { focus: true }));
buttons.retryHints.addEventListener("click", () => showLesson(true, { focus: true }));
buttons.save.addEventListener("click", saveResult);
document.getElementById("restart").addEventListener("click", () => {
  current = 0;
  mistakes = false;
  finalFailures = 0;
  done.hidden = true;
  record(0);
  showLesson(false, { focus: true });
});
arrowKeys(grid, ".tile");

async function start() {
  try {
    lessons = (await api("/api/v1/get_tutorial")).data.lessons;
  } catch (error) {
    intro.textContent = `The lessons could not be loaded: ${describe(error)}`;
    return;
  }
  showLesson(false);
  if (cameFrom !== null) await record(0, cameFrom);
  await record(0);
}
start();
