// Researchers: a crowd study's progress (assignments done of wanted, pay) and its workers'
// reliability on the gold standards. Names and worker ids are text, never markup.
import { api, describe, researcherToken } from "./api.js";

const content = document.getElementById("content");
const message = document.getElementById("message");
const select = document.getElementById("study-select");
const money = (cents) => (cents / 100).toFixed(2);
let token = null;

function cell(text) {
  const td = document.createElement("td");
  td.textContent = String(text);
  return td;
}

async function showStudy(id) {
  const { data } = await api("/api/v1/crowd/get_study", { user_token: token, study_id: id });
  const s = data.study;
  document.getElementById("study-name").textContent = s.name;
  document.getElementById("stat-done").textContent = String(s.assignments_done);
  document.getElementById("stat-wanted").textContent = String(s.assignments_wanted);
  document.getElementById("stat-paid").textContent = money(s.paid_cents);
  document.getElementById("stat-budget").textContent = money(s.budget_cents);
  document.getElementById("study-facts").textContent =
    `${s.clips} clips in ${s.tasks} tasks, ${s.assignments_per_task} workers each; ` +
    `reward ${money(s.reward_cents)} per assignment; ${s.assignments_open} open; ` +
    `qualification: tutorial result ≥ ${s.min_tutorial_action}; ` +
    (s.moves_states ? "answers move citizen states" : "answers kept apart from citizen labels") +
    (s.is_open ? "" : "; closed");
  document.getElementById("worker-link").textContent =
    `${window.location.origin}/crowd?study=${s.id}`;
  const rows = data.workers.map((w) => {
    const tr = document.createElement("tr");
    tr.append(
      cell(w.worker),
      cell(w.platform),
      cell(w.assignments_done),
      cell(`${w.gold_right} / ${w.gold_total}`),
      cell(w.reliability === null ? "–" : `${Math.round(w.reliability * 100)}%`),
      cell(money(w.paid_cents)),
    );
    return tr;
  });
  document.querySelector("#workers tbody").replaceChildren(...rows);
}

async function start() {
  token = await researcherToken();
  if (!token) {
    document.getElementById("signin").hidden = false;
    return;
  }
  const { data } = await api("/api/v1/crowd/get_studies", { user_token: token });
  if (!data.data.length) {
    message.textContent = "No crowd studies yet: create one with smokewatch crowd create.";
    message.hidden = false;
    return;
  }
  for (const s of data.data) {
    const option = document.createElement("option");
    option.value = String(s.id);
    option.textContent = `${s.id}: ${s.name}`;
    select.append(option);
  }
  const wanted = new URLSearchParams(window.location.search).get("study");
  if (wanted && data.data.some((s) => String(s.id) === wanted)) select.value = wanted;
  select.addEventListener("change", () => showStudy(Number(select.value)).catch(fail));
  content.hidden = false;
  await showStudy(Number(select.value));
}

function fail(error) {
  message.className = "notice bad";
  message.textContent = describe(error);
  message.hidden = false;
}

start().catch(fail);
