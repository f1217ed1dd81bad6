// Researcher sign-in by password; the token is kept in localStorage until it expires.
import { describe, signIn } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("error");

/** Where to go after signing in: ``?next=`` when it resolves to this site (the browser's own
 *  URL parser decides, so "/\\host", "/\thost" and the like cannot lead elsewhere); else the
 *  review page. */
function target() {
  const next = new URLSearchParams(window.location.search).get("next") || "";
  if (!next.startsWith("/")) return "/review";
  let url;
  try {
    url = new URL(next, window.location.origin);
  } catch {
    return "/review";
  }
  if (url.origin !== window.location.origin) return "/review";
  return url.pathname + url.search + url.hash;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const name = form.name.value.trim();
  const password = form.password.value;
  if (!name || !password) {
    error.textContent = "Enter your account name and password.";
    error.hidden = false;
    return;
  }
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const who = await signIn(name, password);
    window.location.href = who.role === "researcher" ? target() : "/gallery";
  } catch (e) {
    error.textContent = describe(e);
    error.hidden = false;
    button.disabled = false;
    form.password.focus();
  }
});
document.getElementById("name").focus();
