// The login form: the password goes in a JSON POST with the page's CSRF token.
"use strict";
document.getElementById("login").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const csrf = document.querySelector('meta[name="csrf"]').content;
  const out = document.getElementById("login-error");
  out.textContent = "";
  const r = await fetch("/api/login", {
    method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrf},
    body: JSON.stringify({password: document.getElementById("password").value}),
  });
  if (r.ok) { window.location = "/"; return; }
  let msg = r.statusText;
  try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
  out.textContent = msg;
});
