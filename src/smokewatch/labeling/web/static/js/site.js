// Every page: the menu button, and who is signed in.
import { crowdSession, researcher, setResearcher } from "./api.js";

const menu = document.querySelector(".menu-button");
const nav = document.getElementById("site-nav");
menu?.addEventListener("click", () => {
  const open = menu.getAttribute("aria-expanded") !== "true";
  menu.setAttribute("aria-expanded", String(open));
  nav.classList.toggle("open", open);
});

const who = researcher();
if (who) {
  document.getElementById("sign-in").hidden = true;
  document.getElementById("signed-in").hidden = false;
  document.getElementById("signed-in-name").textContent = `${who.name} (${who.role})`;
  if (who.role === "researcher") {
    for (const item of document.querySelectorAll("[data-researcher]")) item.hidden = false;
  }
}
document.getElementById("sign-out")?.addEventListener("click", () => {
  setResearcher(null);
  window.location.href = "/";
});

// A crowd worker taking the tutorial: a way back to the task (the tutorial's own links lead
// to the volunteers' pages).
const crowd = crowdSession();
if (crowd && String(crowd.back).startsWith("/crowd?") && document.body.dataset.page === "tutorial") {
  const back = document.createElement("div");
  back.className = "notice warn";
  back.id = "crowd-back";
  const link = document.createElement("a");
  link.className = "btn primary";
  link.href = crowd.back;
  link.textContent = "Back to your task";
  back.append("You are taking the tutorial for a paid task. When you have finished it: ", link);
  document.getElementById("main").prepend(back);
}
