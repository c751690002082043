// The page's start: who is logged in (the session cookie), the login form, the language
// switch (remembered per user in this browser) and the switch between chat and dashboard.

import { AliceError, call } from "./api.js";
import { startChat, wireChat } from "./chat.js";
import { relabelDashboard, startDashboard, stopDashboard, wireDashboard } from "./dashboard.js";
import { language, setLanguage, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);
let me = null;

function languageKey() {
  return me ? `alice.language.${me.username}` : "alice.language";
}

function show(view) {
  for (const id of ["login-view", "chat-view", "dashboard-view"]) $(id).hidden = id !== view;
  $("show-chat").setAttribute("aria-pressed", String(view === "chat-view"));
  $("show-dashboard").setAttribute("aria-pressed", String(view === "dashboard-view"));
  if (view === "dashboard-view") startDashboard();
  else stopDashboard();
}

async function loggedIn(user) {
  me = user;
  setLanguage(localStorage.getItem(languageKey()) ?? language());
  $("whoami").textContent = user.username;
  $("logout").hidden = false;
  // Only an admin has a second view to switch to.
  document.querySelector("nav.views").hidden = user.role !== "admin";
  $("show-dashboard").hidden = user.role !== "admin";
  show(location.hash === "#dashboard" && user.role === "admin" ? "dashboard-view" : "chat-view");
  startChat(user);
}

function loggedOut() {
  me = null;
  stopDashboard();
  $("whoami").textContent = "";
  $("logout").hidden = true;
  document.querySelector("nav.views").hidden = true;
  show("login-view");
  $("username").focus();
}

async function logIn(body) {
  $("login-error").textContent = "";
  try {
    const user = await call("POST", "/api/auth/login", body);
    $("password").value = "";
    $("api-key").value = "";
    await loggedIn(user);
  } catch (error) {
    const refused = error instanceof AliceError && error.status === 401;
    $("login-error").textContent = refused ? t("wrong_login") : error.message;
  }
}

function chooseLoginMethod(withKey) {
  $("password-form").hidden = withKey;
  $("key-form").hidden = !withKey;
  $("login-with-password").setAttribute("aria-pressed", String(!withKey));
  $("login-with-key").setAttribute("aria-pressed", String(withKey));
  (withKey ? $("api-key") : $("username")).focus();
}

function wire() {
  $("password-form").addEventListener("submit", (event) => {
    event.preventDefault();
    logIn({ username: $("username").value.trim(), password: $("password").value });
  });
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    logIn({ api_key: $("api-key").value.trim() });
  });
  $("login-with-password").addEventListener("click", () => chooseLoginMethod(false));
  $("login-with-key").addEventListener("click", () => chooseLoginMethod(true));
  $("logout").addEventListener("click", async () => {
    try {
      await call("POST", "/api/auth/logout", {});
    } finally {
      loggedOut();
    }
  });
  $("language").addEventListener("click", () => {
    setLanguage(language() === "sv" ? "en" : "sv");
    localStorage.setItem(languageKey(), language());
    relabelDashboard();
  });
  $("show-chat").addEventListener("click", () => {
    history.replaceState(null, "", "#chat");
    show("chat-view");
  });
  $("show-dashboard").addEventListener("click", () => {
    history.replaceState(null, "", "#dashboard");
    show("dashboard-view");
  });
  wireChat({ onForgotten: loggedOut });
  wireDashboard();
}

async function start() {
  setLanguage(localStorage.getItem("alice.language") ?? "sv");
  wire();
  try {
    await loggedIn(await call("GET", "/api/auth/me"));
  } catch {
    loggedOut();
  }
}

start();
