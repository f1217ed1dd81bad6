// Researcher sign-in by password; the token is kept in localStorage until it expires.
import { describe, signIn } from "./api.js";

const form = document.getElementById("login-form");
const error = document.getElementById("error");

function target() {
  const next = new URLSearchParams(window.location.search).get("next") || "";
  return next.startsWith("/") && !next.startsWith("//") ? next : "/review";
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
