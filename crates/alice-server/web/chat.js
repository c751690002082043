// The chat view: the conversation list with search, the messages of one conversation, the
// composer with a stop button, and the user's own data (memories, export, forget me).

import { AliceError, call, streamChat } from "./api.js";
import { language, t, translate } from "./i18n.js";

const $ = (id) => document.getElementById(id);

/** The chat view's state: who is logged in, which conversation is open, what is streaming. */
const chat = {
  user: null,
  conversationId: null,
  streaming: null,
  searchTimer: null,
};

/** Shows the chat for `user` (from /api/auth/me). */
export function startChat(user) {
  chat.user = user;
  openNew();
  loadConversations();
}

export function wireChat({ onForgotten }) {
  $("composer").addEventListener("submit", (event) => {
    event.preventDefault();
    send($("message").value);
  });
  $("message").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      send($("message").value);
    }
  });
  $("stop").addEventListener("click", () => chat.streaming?.abort());
  $("new-conversation").addEventListener("click", () => {
    openNew();
    $("message").focus();
  });
  $("search").addEventListener("input", () => {
    clearTimeout(chat.searchTimer);
    chat.searchTimer = setTimeout(loadConversations, 250);
  });
  $("toggle-sidebar").addEventListener("click", () => {
    const open = $("sidebar").classList.toggle("open");
    $("toggle-sidebar").setAttribute("aria-expanded", String(open));
  });
  $("open-memories").addEventListener("click", openMemories);
  $("memory-form").addEventListener("submit", addMemory);
  $("export-data").addEventListener("click", exportData);
  $("forget-me").addEventListener("click", async () => {
    if (!(await confirmAction(t("confirm_forget")))) return;
    try {
      await call("DELETE", `/api/users/${encodeURIComponent(chat.user.username)}`);
      onForgotten();
    } catch (error) {
      showError(error);
    }
  });
  for (const dialog of document.querySelectorAll("dialog")) {
    dialog.querySelector("[data-close]")?.addEventListener("click", () => dialog.close());
  }
}

/** Asks for a yes or no in the confirmation dialog. */
export function confirmAction(text) {
  const dialog = $("confirm-dialog");
  $("confirm-text").textContent = text;
  return new Promise((resolve) => {
    const finish = (answer) => {
      $("confirm-yes").removeEventListener("click", yes);
      $("confirm-no").removeEventListener("click", no);
      dialog.removeEventListener("cancel", no);
      dialog.close();
      resolve(answer);
    };
    const yes = () => finish(true);
    const no = () => finish(false);
    $("confirm-yes").addEventListener("click", yes);
    $("confirm-no").addEventListener("click", no);
    dialog.addEventListener("cancel", no);
    dialog.showModal();
    $("confirm-no").focus();
  });
}

function showError(error) {
  $("chat-error").textContent = error instanceof AliceError ? error.message : t("error_network");
}

function openNew() {
  chat.streaming?.abort();
  chat.conversationId = null;
  $("messages").replaceChildren();
  $("conversation-title").textContent = t("new_conversation");
  $("chat-error").textContent = "";
  markCurrent();
}

async function loadConversations() {
  const query = $("search").value.trim();
  const path = `/api/conversations?limit=100${query ? `&q=${encodeURIComponent(query)}` : ""}`;
  try {
    const { conversations } = await call("GET", path);
    const list = $("conversation-list");
    list.replaceChildren(
      ...conversations.map((conversation) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = "conversation-item";
        button.dataset.id = conversation.id;
        button.textContent = conversation.title;
        const when = document.createElement("time");
        when.dateTime = conversation.last_message_at;
        when.textContent = new Date(conversation.last_message_at).toLocaleString(language());
        button.append(when);
        button.addEventListener("click", () => openConversation(conversation));
        item.append(button);
        return item;
      }),
    );
    const empty = $("conversation-empty");
    empty.hidden = conversations.length > 0;
    empty.textContent = t(query ? "no_matches" : "no_conversations");
    markCurrent();
  } catch (error) {
    showError(error);
  }
}

function markCurrent() {
  for (const button of document.querySelectorAll(".conversation-item")) {
    if (button.dataset.id === chat.conversationId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

async function openConversation(conversation) {
  chat.streaming?.abort();
  chat.conversationId = conversation.id;
  $("conversation-title").textContent = conversation.title;
  $("chat-error").textContent = "";
  $("sidebar").classList.remove("open");
  $("toggle-sidebar").setAttribute("aria-expanded", "false");
  markCurrent();
  try {
    const { messages } = await call(
      "GET",
      `/api/conversations/${conversation.id}/messages?limit=200`,
    );
    const answers = messages.filter((message) => message.role === "assistant");
    const rendered = answers.length
      ? (await call("POST", "/api/render", { texts: answers.map((m) => m.content) })).html
      : [];
    const elements = messages
      .filter((message) => message.role !== "system")
      .map((message) => {
        if (message.role === "user") return messageElement("user", message.content);
        const element = messageElement("assistant");
        setAnswerHtml(element, rendered[answers.indexOf(message)]);
        finishAnswer(element, {
          message_id: message.id,
          model: message.model_used,
          cached: message.cached,
          ttft_ms: message.ttft_ms,
          brownout_level: message.brownout_level,
          experiment: message.experiment,
          feedback: message.feedback ?? null,
          text: message.content,
        });
        return element;
      });
    $("messages").replaceChildren(...elements);
    updateRegenerate();
    elements.at(-1)?.scrollIntoView({ block: "end" });
  } catch (error) {
    showError(error);
  }
}

/** A message element from the template; a user's text is set as text, never as HTML. */
function messageElement(role, text) {
  const element = $("message-template").content.firstElementChild.cloneNode(true);
  translate(element);
  element.classList.add(role);
  const label = document.createElement("span");
  label.className = "visually-hidden";
  label.textContent = `${t(role === "user" ? "you" : "alice")}: `;
  element.prepend(label);
  if (role === "user") {
    element.querySelector(".content").textContent = text;
    element.querySelector(".actions").remove();
    element.querySelector(".meta").remove();
  }
  return element;
}

/** Puts Alice's sanitised HTML (from /api/render) in place of the streamed text. */
function setAnswerHtml(element, html) {
  const content = element.querySelector(".content");
  content.innerHTML = html ?? "";
  content.classList.add("rendered");
}

/** The line under an answer and its buttons, once the answer is complete. */
function finishAnswer(element, answer) {
  element.dataset.id = answer.message_id ?? "";
  element.dataset.text = answer.text ?? "";
  const facts = [];
  if (answer.model) facts.push(answer.model);
  if (answer.cached) facts.push(t("cached"));
  if (answer.failover_ms) facts.push(t("failover", { ms: answer.failover_ms }));
  if (answer.brownout_level && answer.brownout_level !== "NONE") {
    facts.push(t("brownout", { level: answer.brownout_level }));
  }
  if (answer.ttft_ms != null) facts.push(t("ttft", { ms: answer.ttft_ms }));
  if (answer.experiment) facts.push(t("experiment", answer.experiment));
  element.querySelector(".meta").textContent = facts.join(" · ");
  const copy = element.querySelector(".copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(element.dataset.text);
      copy.textContent = t("copied");
      setTimeout(() => (copy.textContent = t("copy")), 1500);
    } catch {
      copy.textContent = t("copy");
    }
  });
  element.querySelector(".regenerate").addEventListener("click", regenerate);
  for (const thumb of element.querySelectorAll(".thumb")) {
    const rating = thumb.classList.contains("up") ? "up" : "down";
    thumb.setAttribute("aria-pressed", String(answer.feedback === rating));
    thumb.addEventListener("click", () => rate(element, rating));
  }
  if (!answer.message_id) {
    for (const button of element.querySelectorAll(".thumb, .regenerate")) button.disabled = true;
  }
}

async function rate(element, rating) {
  const pressed = element.querySelector(`.thumb.${rating}`).getAttribute("aria-pressed") === "true";
  try {
    if (pressed) await call("DELETE", `/api/messages/${element.dataset.id}/feedback`);
    else await call("PUT", `/api/messages/${element.dataset.id}/feedback`, { rating });
    for (const thumb of element.querySelectorAll(".thumb")) {
      const mine = thumb.classList.contains(rating);
      thumb.setAttribute("aria-pressed", String(mine && !pressed));
    }
  } catch (error) {
    showError(error);
  }
}

/** Only the last answer offers "answer again". */
function updateRegenerate() {
  const answers = [...document.querySelectorAll("#messages .message.assistant")];
  answers.forEach((answer, index) => {
    answer.querySelector(".regenerate").hidden = index !== answers.length - 1;
  });
}

function regenerate() {
  const questions = [...document.querySelectorAll("#messages .message.user .content")];
  const last = questions.at(-1);
  if (last) send(last.textContent);
}

async function send(text) {
  const message = text.trim();
  if (!message || chat.streaming) return;
  $("chat-error").textContent = "";
  $("message").value = "";
  const question = messageElement("user", message);
  const answer = messageElement("assistant");
  answer.setAttribute("aria-busy", "true");
  const content = answer.querySelector(".content");
  const streamed = document.createTextNode("");
  content.append(streamed);
  $("messages").append(question, answer);
  answer.scrollIntoView({ block: "end" });
  const controller = new AbortController();
  chat.streaming = controller;
  $("send").hidden = true;
  $("stop").hidden = false;
  const body = { message };
  if (chat.conversationId) body.conversation_id = chat.conversationId;
  try {
    const reply = await streamChat(body, {
      signal: controller.signal,
      onDelta: (delta) => {
        streamed.appendData(delta);
        answer.scrollIntoView({ block: "end" });
      },
    });
    const { html } = await call("POST", "/api/render", { texts: [reply.response] });
    setAnswerHtml(answer, html[0]);
    finishAnswer(answer, { ...reply, text: reply.response });
    const isNew = !chat.conversationId;
    chat.conversationId = reply.conversation_id;
    if (isNew) $("conversation-title").textContent = message.slice(0, 80);
    loadConversations();
  } catch (error) {
    if (error.name === "AbortError") {
      answer.querySelector(".meta").textContent = t("stopped");
      finishAnswer(answer, { text: streamed.data });
      answer.querySelector(".meta").textContent = t("stopped");
      answer.classList.add("stopped");
    } else {
      answer.remove();
      showError(error);
      if (error.status === 401) location.reload();
    }
  } finally {
    answer.removeAttribute("aria-busy");
    chat.streaming = null;
    $("send").hidden = false;
    $("stop").hidden = true;
    updateRegenerate();
    $("message").focus();
  }
}

async function openMemories() {
  $("memory-error").textContent = "";
  $("memories-dialog").showModal();
  await loadMemories();
  $("memory-text").focus();
}

function memoriesPath() {
  return `/api/users/${encodeURIComponent(chat.user.username)}/memories`;
}

async function loadMemories() {
  try {
    const { memories } = await call("GET", `${memoriesPath()}?limit=200`);
    $("memory-list").replaceChildren(
      ...memories.map((memory) => {
        const item = document.createElement("li");
        const text = document.createElement("span");
        text.textContent = memory.content;
        const remove = document.createElement("button");
        remove.type = "button";
        remove.textContent = t("delete");
        remove.setAttribute("aria-label", `${t("delete_memory")}: ${memory.content}`);
        remove.addEventListener("click", async () => {
          try {
            await call("DELETE", `${memoriesPath()}/${memory.id}`);
            await loadMemories();
            $("memory-text").focus();
          } catch (error) {
            $("memory-error").textContent = error.message;
          }
        });
        item.append(text, remove);
        return item;
      }),
    );
    $("memory-empty").hidden = memories.length > 0;
  } catch (error) {
    $("memory-error").textContent = error.message;
  }
}

async function addMemory(event) {
  event.preventDefault();
  const content = $("memory-text").value.trim();
  if (!content) return;
  try {
    await call("POST", memoriesPath(), { content });
    $("memory-text").value = "";
    await loadMemories();
  } catch (error) {
    $("memory-error").textContent = error.message;
  }
}

function exportData() {
  const link = document.createElement("a");
  link.href = `/api/users/${encodeURIComponent(chat.user.username)}/export`;
  link.download = `alice-${chat.user.username}.json`;
  document.body.append(link);
  link.click();
  link.remove();
}
