// Talking to Alice: JSON requests with the session cookie, errors turned into sentences a
// person can act on, and the Server-Sent Events of a streamed answer read from a POST.

import { t } from "./i18n.js";

/** An error from Alice, with the sentence to show. */
export class AliceError extends Error {
  constructor(status, body, retryAfter) {
    super(explain(status, body, retryAfter));
    this.status = status;
    this.body = body;
  }
}

/**
 * The sentence for a failed request: Alice's own Swedish message (`error`), her advice
 * (`detail`), and for 429 and 503 when to try again (`Retry-After`).
 */
function explain(status, body, retryAfter) {
  if (status === 0) return t("error_network");
  const why = body?.error ? `${body.error}${body.detail ? ` (${body.detail})` : ""}` : `HTTP ${status}`;
  const seconds = Number(retryAfter ?? body?.retry_after);
  let retry = "";
  if (seconds > 90) retry = ` ${t("retry_in_minutes", { minutes: Math.ceil(seconds / 60) })}`;
  else if (seconds > 0) retry = ` ${t("retry_in", { seconds })}`;
  if (status === 429) return `${t("error_429", { why })}${retry || ` ${t("retry_later")}`}`;
  // 502, 503 and 504: the model or the machine cannot answer now, whatever the question.
  if (status >= 502 && status <= 504) return `${t("error_503", { why })}${retry}`;
  return t("error_generic", { why });
}

/** Sends a request; the parsed JSON body (null for 204), or throws an AliceError. */
export async function call(method, path, body, options = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      credentials: "same-origin",
      headers: body === undefined ? {} : { "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: options.signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new AliceError(0, null);
  }
  if (!response.ok) throw await failure(response);
  if (options.raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

async function failure(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  return new AliceError(response.status, body, response.headers.get("Retry-After"));
}

/**
 * Streams one chat turn: calls `onDelta(text)` for each piece and resolves with the `done`
 * event's reply. Aborting `signal` stops the answer (Alice stops generating).
 */
export async function streamChat(body, { signal, onDelta }) {
  const response = await call("POST", "/api/chat", { ...body, stream: true }, { signal, raw: true });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = parseEvent(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (event.name === "delta") onDelta(JSON.parse(event.data).delta);
      else if (event.name === "done") return JSON.parse(event.data);
      else if (event.name === "error") {
        const error = JSON.parse(event.data);
        throw new AliceError(error.status ?? 500, error);
      }
    }
  }
  throw new AliceError(0, null);
}

function parseEvent(text) {
  let name = "message";
  const data = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("event:")) name = line.slice(6).trim();
    else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
  }
  return { name, data: data.join("\n") };
}
