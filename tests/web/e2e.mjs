// Alice's web page in headless Chromium, end to end: run by tests/web_page.rs against a real
// Alice in front of the upstream simulator. Every check throws on failure; the last line says
// how many passed. Screenshots go to ALICE_WEB_SCREENSHOTS (docs/screenshots in the repo).
//
// Environment: ALICE_URL, ALICE_ADMIN_KEY, ALICE_USER, ALICE_USER_PASSWORD, ALICE_OTHER_USER,
// ALICE_OTHER_PASSWORD, ALICE_SIM_URL, ALICE_CHROMIUM (the browser), ALICE_WEB_SCREENSHOTS.

import { chromium } from "playwright-core";
import { readFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const base = env("ALICE_URL");
const adminKey = env("ALICE_ADMIN_KEY");
const simUrl = env("ALICE_SIM_URL");
const shots = env("ALICE_WEB_SCREENSHOTS");
mkdirSync(shots, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
let passed = 0;

function check(condition, what) {
  if (!condition) throw new Error(`failed: ${what}`);
  passed += 1;
  console.log(`ok - ${what}`);
}

async function setFaults(faults) {
  const response = await fetch(`${simUrl}/sim/faults`, {
    method: "PUT",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(faults),
  });
  if (!response.ok) throw new Error(`sim faults: ${response.status} ${await response.text()}`);
}

async function asAdmin(method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { Authorization: `Bearer ${adminKey}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: await response.text() };
}

/** axe-core in the page: no serious or critical violations. */
async function accessible(page, what) {
  // The page's CSP forbids inline scripts, so axe is evaluated, not added as a tag.
  if (!(await page.evaluate(() => typeof window.axe === "object"))) await page.evaluate(axeSource);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ["violations"] }),
  );
  const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  const detail = bad
    .map((v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).slice(0, 5).join(", ")}`)
    .join("; ");
  check(bad.length === 0, `axe: no serious or critical violations on ${what}${detail ? ` — ${detail}` : ""}`);
}

async function logInWithPassword(page, username, password) {
  await page.goto(base);
  await page.locator("#login-view").waitFor();
  await page.fill("#username", username);
  await page.fill("#password", password);
  await page.click("#password-form button[type=submit]");
  await page.locator("#chat-view").waitFor();
}

async function lastAnswer(page) {
  return page.locator("#messages .message.assistant").last();
}

/** Sends a question; returns the lengths of the streamed text seen while it arrived. */
async function ask(page, question) {
  const before = await page.locator("#messages .message.assistant").count();
  await page.fill("#message", question);
  await page.click("#send");
  const answer = page.locator("#messages .message.assistant").nth(before);
  await answer.waitFor();
  const lengths = [];
  for (let i = 0; i < 400; i += 1) {
    const state = await answer.evaluate((el) => ({
      busy: el.getAttribute("aria-busy") === "true",
      length: el.querySelector(".content").textContent.length,
    }));
    if (!lengths.length || lengths.at(-1) !== state.length) lengths.push(state.length);
    if (!state.busy) break;
    await page.waitForTimeout(25);
  }
  await page.waitForFunction((el) => el.getAttribute("aria-busy") !== "true", await answer.elementHandle());
  return { answer, lengths };
}

const browser = await chromium.launch({
  executablePath: env("ALICE_CHROMIUM"),
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

try {
  // --- A user: login, streaming, stop, safety, feedback, reload, memories -----------------
  const desktop = await browser.newContext({ viewport: DESKTOP, acceptDownloads: true });
  const page = await desktop.newPage();
  const pageErrors = [];
  page.on("pageerror", (error) => pageErrors.push(error.message));

  await page.goto(base);
  await page.locator("#login-view").waitFor();
  check(await page.locator("html[lang=sv]").count() === 1, "the page is Swedish by default");
  check((await page.textContent("#login-view")).includes("data/admin.key"), "the login tells where the first admin key is");
  await page.fill("#username", env("ALICE_USER"));
  await page.fill("#password", "not the password");
  await page.click("#password-form button[type=submit]");
  await page.locator("#login-error").filter({ hasText: "Fel" }).waitFor();
  check(true, "a wrong password is refused with a Swedish message");
  // Guessing passwords for a name locks it out (429 with Retry-After): said in Swedish, with when.
  for (let i = 0; i < 6; i += 1) {
    await page.fill("#username", "gissaren");
    await page.fill("#password", `fel-${i}`);
    await page.click("#password-form button[type=submit]");
    await page.waitForTimeout(150);
  }
  const lockout = await page.locator("#login-error").textContent();
  check(/misslyckade inloggningar/.test(lockout) && /Försök igen om \d+ minuter/.test(lockout), `a locked-out login says why and when to retry (${lockout})`);

  await logInWithPassword(page, env("ALICE_USER"), env("ALICE_USER_PASSWORD"));
  check((await page.textContent("#whoami")) === env("ALICE_USER"), "logged in with a password");
  check(!(await page.isVisible("#show-dashboard")), "a non-admin sees no dashboard button");
  // A user's feed carries their own timers; the dashboard's snapshots are for admins.
  const feed = await page.evaluate(async () => {
    const controller = new AbortController();
    const response = await fetch("/api/events", { signal: controller.signal });
    const { value } = await response.body.getReader().read();
    controller.abort();
    return { status: response.status, first: new TextDecoder().decode(value) };
  });
  check(
    feed.status === 200 && !feed.first.includes("snapshot"),
    `a non-admin's /api/events has no dashboard snapshots (${feed.status}: ${feed.first.trim()})`,
  );

  await setFaults({ tokens_per_second: 20 });
  const first = "Vad är klockan i Stockholm?";
  const { answer, lengths } = await ask(page, first);
  check(lengths.filter((n) => n > 0).length >= 3, `the answer appeared token by token (lengths seen: ${lengths.join(",")})`);
  const answerText = await answer.locator(".content").textContent();
  check(answerText.includes("Vad är klockan i Stockholm?"), "the streamed answer is the simulator's answer");
  const meta = await answer.locator(".meta").textContent();
  check(/ollama|gpt-oss/.test(meta) && /första ord \d+ ms/.test(meta), `the answer names its model and time to first token (${meta})`);

  // Answers holding a script, an onerror image and a javascript: link render inert. The
  // simulator quotes 80 characters of the question, so each attack goes in its own question.
  const attacks = [
    "<script>window.pwned=1</script>",
    "<img src=x onerror=\"window.pwned=3\"> [klicka här](javascript:window.pwned=2)",
    "[klicka](JaVaScRiPt:window.pwned=4) <a href=\"javascript:window.pwned=5\">a</a>",
  ];
  let links = 0;
  for (const attack of attacks) {
    const { answer: unsafe } = await ask(page, attack);
    const inert = await unsafe.evaluate((el) => ({
      scripts: el.querySelectorAll("script, img, iframe").length,
      handlers: [...el.querySelectorAll("*")].some((n) => [...n.attributes].some((a) => a.name.startsWith("on"))),
      jsLinks: [...el.querySelectorAll("a")].filter((a) => /script:/i.test(a.getAttribute("href") ?? "")).length,
      text: el.querySelector(".content").textContent,
    }));
    check(
      inert.scripts === 0 && !inert.handlers && inert.jsLinks === 0,
      `the answer to ${JSON.stringify(attack)} holds no script, image, handler or javascript: link`,
    );
    for (const link of await unsafe.locator(".content a").all()) {
      links += 1;
      await link.click().catch(() => {});
    }
  }
  await page.waitForTimeout(200);
  check(links >= 2, `the Markdown links were rendered as links to click (${links})`);
  check((await page.evaluate(() => window.pwned)) === undefined, "nothing in the answers ran, clicked or not");

  // Stop a long answer: it stops growing and says so.
  await setFaults({ tokens_per_second: 3 });
  await page.fill("#message", "Berätta en lång historia om en katt som bor i Göteborg och älskar sill.");
  await page.click("#send");
  const long = page.locator("#messages .message.assistant").last();
  await page.waitForFunction((el) => el.querySelector(".content").textContent.length > 0, await long.elementHandle());
  check(await page.isVisible("#stop"), "a stop button shows while the answer streams");
  await page.click("#stop");
  await long.locator(".meta").filter({ hasText: "Stoppad" }).waitFor();
  const stoppedAt = (await long.locator(".content").textContent()).length;
  await page.waitForTimeout(1200);
  check((await long.locator(".content").textContent()).length === stoppedAt, "a stopped answer stops growing");
  check(await page.isVisible("#send"), "after stop the send button is back");
  await setFaults({ tokens_per_second: 200 });

  // Thumbs up on the first answer, kept across a reload.
  const firstAnswer = page.locator("#messages .message.assistant").first();
  await firstAnswer.locator(".thumb.up").click();
  await page.waitForFunction((el) => el.querySelector(".thumb.up").getAttribute("aria-pressed") === "true", await firstAnswer.elementHandle());
  check(true, "thumbs up is stored and shown");

  await page.reload();
  await page.locator("#chat-view").waitFor();
  const listed = page.locator(".conversation-item", { hasText: first.slice(0, 20) });
  await listed.first().waitFor();
  check(await listed.count() >= 1, "after a reload the conversation is in the list");
  await listed.first().click();
  await page.locator("#messages .message.assistant").first().waitFor();
  const reloaded = page.locator("#messages .message.assistant").first();
  check((await reloaded.locator(".content").textContent()).includes(first), "the conversation's messages come back");
  check((await reloaded.locator(".thumb.up").getAttribute("aria-pressed")) === "true", "the thumb is still up after a reload");

  await page.fill("#search", "klockan");
  await page.waitForTimeout(600);
  check(await page.locator(".conversation-item").count() >= 1, "search finds the conversation");
  await page.fill("#search", "zzzfinnsinte");
  await page.locator("#conversation-empty").waitFor();
  check(await page.locator(".conversation-item").count() === 0, "search for a missing word lists nothing");
  await page.fill("#search", "");

  // Memories: add and delete.
  await page.click("#open-memories");
  await page.locator("#memories-dialog[open]").waitFor();
  await page.fill("#memory-text", "Jag gillar kanelbullar");
  await page.click("#memory-form button[type=submit]");
  const memory = page.locator("#memory-list li", { hasText: "kanelbullar" });
  await memory.waitFor();
  check(true, "a memory is added and listed");
  await memory.locator("button").click();
  await memory.waitFor({ state: "detached" });
  check(await page.locator("#memory-list li", { hasText: "kanelbullar" }).count() === 0, "the memory is deleted");
  await page.click("#memories-dialog [data-close]");

  // Export my data.
  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#export-data")]);
  const exported = JSON.parse(readFileSync(await download.path(), "utf8"));
  check(JSON.stringify(exported).includes(first), "the export holds the user's conversation");

  await page.locator("#messages .message.assistant").first().waitFor();
  await accessible(page, "the chat page at 1280 px");
  await page.screenshot({ path: `${shots}/chat-desktop.png` });

  // The language switch, remembered for this user.
  await page.click("#language");
  check((await page.textContent("#new-conversation")) === "New conversation", "English by the switch");
  await page.reload();
  await page.locator("#chat-view").waitFor();
  check((await page.textContent("#new-conversation")) === "New conversation", "the language is remembered after a reload");
  await page.click("#language");
  check(pageErrors.length === 0, `no script errors on the chat page (${pageErrors.join("; ")})`);

  // The phone width.
  const phone = await browser.newContext({ viewport: PHONE, storageState: await desktop.storageState() });
  const small = await phone.newPage();
  await small.goto(base);
  await small.locator("#chat-view").waitFor();
  await small.click("#toggle-sidebar");
  await small.locator(".conversation-item").first().click();
  await small.locator("#messages .message.assistant").first().waitFor();
  const overflow = await small.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(overflow <= 0, `nothing sticks out sideways at 390 px (${overflow} px)`);
  await accessible(small, "the chat page at 390 px");
  await small.screenshot({ path: `${shots}/chat-phone.png` });
  await phone.close();

  // Forget me, with a confirmation, on another user.
  const other = await browser.newContext({ viewport: DESKTOP });
  const forgetting = await other.newPage();
  await logInWithPassword(forgetting, env("ALICE_OTHER_USER"), env("ALICE_OTHER_PASSWORD"));
  await ask(forgetting, "Hej Alice");
  await forgetting.click("#forget-me");
  await forgetting.locator("#confirm-dialog[open]").waitFor();
  await forgetting.click("#confirm-no");
  check(await forgetting.isVisible("#chat-view"), "forget me does nothing when cancelled");
  await forgetting.click("#forget-me");
  await forgetting.click("#confirm-yes");
  await forgetting.locator("#login-view").waitFor();
  const gone = await asAdmin("GET", `/api/db/users/${env("ALICE_OTHER_USER")}`);
  check(gone.status === 404, `after forget me the user is gone (${gone.status})`);
  await other.close();
  await desktop.close();

  // --- The admin's dashboard -------------------------------------------------------------
  const admin = await browser.newContext({ viewport: DESKTOP });
  const board = await admin.newPage();
  const boardErrors = [];
  board.on("pageerror", (error) => boardErrors.push(error.message));
  await board.goto(base);
  await board.click("#login-with-key");
  await board.fill("#api-key", adminKey);
  await board.click("#key-form button[type=submit]");
  await board.locator("#chat-view").waitFor();
  check(await board.isVisible("#show-dashboard"), "an admin logged in with a key sees the dashboard button");
  await board.click("#show-dashboard");
  await board.locator(".instance .state", { hasText: "NORMAL" }).waitFor();
  await board.locator("#live", { hasText: "Live" }).waitFor();
  check(true, "the dashboard is live and shows NORMAL");
  // The test's scripted machine reports CPU pressure 12 %.
  await board.locator('[data-gauge="cpu_pressure"] .value', { hasText: "12" }).waitFor({ timeout: 3000 });
  check(true, "the dashboard shows the machine's pressure stall figures");
  await board.locator(".backends tbody tr").first().waitFor();

  const forced = await asAdmin("POST", "/api/brain/brownout", { activate: true, level: "HEAVY", reason: "e2e" });
  check(forced.status === 200, `the control API starts a brownout (${forced.status})`);
  await board.locator(".instance .state", { hasText: "BROWNOUT" }).waitFor({ timeout: 5000 });
  await board.locator(".instance .level", { hasText: "HEAVY" }).waitFor({ timeout: 5000 });
  check(true, "the dashboard moves to BROWNOUT at HEAVY");

  await setFaults({ error_rate: 1.0, error_status: 500 });
  for (let i = 0; i < 8; i += 1) await asAdmin("POST", "/api/chat", { message: `fel ${i}` });
  await board.locator('.backends td[data-breaker="open"]').waitFor({ timeout: 8000 });
  check(true, "the dashboard shows the backend's breaker open when the simulator fails");
  // With the only backend failing, a user's question gets a 502 or 503: said in Swedish, with why.
  const failing = await browser.newContext({ viewport: DESKTOP });
  const failPage = await failing.newPage();
  await logInWithPassword(failPage, env("ALICE_USER"), env("ALICE_USER_PASSWORD"));
  await failPage.fill("#message", "Hej, svarar du?");
  await failPage.click("#send");
  await failPage.waitForFunction(() => document.getElementById("chat-error").textContent.length > 0, null, { timeout: 10000 });
  const refusal = await failPage.textContent("#chat-error");
  check(/^Alice kan inte svara just nu: Språkmodellen/.test(refusal), `a refused question says why in Swedish (${refusal})`);
  check(await failPage.isVisible("#send"), "after a refusal the send button is back");
  await failing.close();

  await board.waitForTimeout(1100);
  await accessible(board, "the dashboard at 1280 px");
  await board.screenshot({ path: `${shots}/dashboard-desktop.png`, fullPage: true });

  // The dashboard's own controls, behind a confirmation.
  await board.click("#brownout-off");
  await board.locator("#confirm-dialog[open]").waitFor();
  await board.click("#confirm-yes");
  await board.locator("#control-result", { hasText: "Ändrat" }).waitFor();
  await board.locator(".instance .level", { hasText: /^NONE/ }).waitFor({ timeout: 5000 });
  check(true, "ending the brownout from the dashboard, after a confirmation, shows NONE");

  // The language switch relabels the panels already drawn.
  await board.click("#language");
  await board.locator(".instance h4", { hasText: "State changes" }).waitFor({ timeout: 3000 });
  check(await board.locator(".instance .label", { hasText: "State" }).count() >= 1, "the dashboard's panels follow the language switch");
  await board.click("#language");
  await board.locator(".instance h4", { hasText: "Lägesbyten" }).waitFor({ timeout: 3000 });

  await board.setViewportSize(PHONE);
  await board.waitForTimeout(1100);
  const boardOverflow = await board.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  check(boardOverflow <= 0, `the dashboard fits 390 px (${boardOverflow} px)`);
  await accessible(board, "the dashboard at 390 px");
  await board.screenshot({ path: `${shots}/dashboard-phone.png`, fullPage: true });
  check(boardErrors.length === 0, `no script errors on the dashboard (${boardErrors.join("; ")})`);
  await setFaults({});
  await admin.close();
} finally {
  await browser.close();
}

console.log(`web page: ${passed} checks passed`);
