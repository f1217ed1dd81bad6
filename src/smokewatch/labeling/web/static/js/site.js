// Every page: the menu button, and who is signed in.
import { researcher, setResearcher } from "./api.js";

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
