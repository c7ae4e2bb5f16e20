// Shared by the pages: building elements (text only, never HTML), the API key kept in sessionStorage,
// calls to the JSON APIs, and turning an error into one plain sentence.

/** An element with its properties and children; strings become text nodes, so nothing is parsed as HTML. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") node.className = value;
    else if (name === "text") node.textContent = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

/** Replace the children of `node`. */
export function fill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat(Infinity)) if (child) node.append(typeof child === "string" ? document.createTextNode(child) : child);
}

export function show(node, visible) {
  node.hidden = !visible;
}

// The key lives in this tab's sessionStorage only: never in a URL, a cookie or localStorage.
const KEY_PREFIX = "ragfed.key.";

export function storedKey(page) {
  return sessionStorage.getItem(KEY_PREFIX + page);
}

export function saveKey(page, key) {
  sessionStorage.setItem(KEY_PREFIX + page, key);
}

export function forgetKey(page) {
  sessionStorage.removeItem(KEY_PREFIX + page);
}

/** The non-secret id part of an `rfk_<id>_<secret>` key (to keep one key's history apart from another's). */
export function keyId(key) {
  const match = /^rfk_([0-9a-f]{12})_/.exec(key || "");
  return match ? match[1] : "unknown";
}

/** A random id that works on plain-HTTP pages too (crypto.randomUUID needs a secure context). */
export function randomId() {
  const bytes = new Uint8Array(12);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** An error the pages can show as it is: `message` is one plain sentence. */
export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.status = status;
  }
}

function serverMessage(body) {
  const message = body && body.error && typeof body.error.message === "string" ? body.error.message.trim() : "";
  return message;
}

/** One plain sentence for an HTTP failure (the API's own message where it has one). */
export function sentenceFor(status, body, what = "the server") {
  const message = serverMessage(body);
  if (status === 401) return "This API key was not accepted (it is wrong, incomplete or revoked). Check it and sign in again.";
  if (status === 403) return `This key's role may not do that. ${message}`.trim();
  if (status === 404) return message ? `Not found: ${message}.` : "Not found.";
  if (status === 413) return `Too large: ${message || "the upload is over the size limit"}.`;
  if (status === 429) return `${what} is busy: ${message || "too many requests at once; try again shortly"}.`;
  if (status === 503) return `${what} cannot answer right now: ${message || "a service is unavailable"}.`;
  if (status >= 500) return `${what} failed (${status}). ${message || "The server log has the details."}`;
  return message ? `${message.charAt(0).toUpperCase()}${message.slice(1)}.` : `The request was refused (${status}).`;
}

const TIMEOUT_MS = 120000;

/**
 * Call a JSON API with the key as a Bearer token. Resolves with the Response (body unread) when it is
 * 2xx; otherwise throws ApiError with a sentence. `json`: a body to send as JSON. The timeout covers
 * the wait for the response's headers.
 */
export async function callApi(path, { key, method = "GET", json, signal, what = "The server" } = {}) {
  const headers = { Accept: "application/json" };
  if (key) headers.Authorization = `Bearer ${key}`;
  if (json !== undefined) headers["Content-Type"] = "application/json";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("timeout", "TimeoutError")), TIMEOUT_MS);
  if (signal) signal.addEventListener("abort", () => controller.abort(signal.reason));
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: json === undefined ? undefined : JSON.stringify(json),
      signal: controller.signal,
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    if (error && error.name === "TimeoutError") throw new ApiError(`${what} did not answer within ${TIMEOUT_MS / 1000} s. Try again.`);
    if (error && error.name === "AbortError") throw new ApiError("Stopped.");
    throw new ApiError(`${what} could not be reached. Check the network connection and try again.`);
  } finally {
    clearTimeout(timer); // the headers are in: an answer streams for as long as it takes
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new ApiError(sentenceFor(response.status, body, what), response.status);
  }
  return response;
}

/** `callApi` and the JSON body. */
export async function getJson(path, options = {}) {
  const response = await callApi(path, options);
  return response.json();
}

/** Where in the document a citation points: the page of a PDF, else the innermost heading. */
export function citationAnchor(citation) {
  if (citation.page !== null && citation.page !== undefined) return `p${citation.page}`;
  const section = citation.section || "";
  return section.split(" > ").pop().trim();
}

/** The `[site:document#section]` tag answers cite (as rag_fed.types.Citation.label). */
export function citationLabel(citation) {
  const anchor = citationAnchor(citation);
  return anchor ? `[${citation.site_id}:${citation.doc_id}#${anchor}]` : `[${citation.site_id}:${citation.doc_id}]`;
}

/** "page 3" or the section path (without the document title it often starts with), for people. */
export function citationPlace(citation) {
  if (citation.page !== null && citation.page !== undefined) return `page ${citation.page}`;
  const parts = (citation.section || "").split(" > ").map((part) => part.trim()).filter(Boolean);
  if (parts.length > 1 && parts[0] === citation.title) parts.shift();
  return parts.join(" › ");
}

export function formatTime(seconds) {
  const date = new Date(seconds * 1000);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString();
}

/** Wire a sign-in form: `check(key)` must resolve when the key works (it throws ApiError otherwise). */
export function signInForm({ page, form, input, error, check, onSignedIn }) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    fill(error);
    if (!key) {
      fill(error, "Enter your API key.");
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await check(key);
      saveKey(page, key);
      input.value = "";
      onSignedIn(key);
    } catch (failure) {
      fill(error, failure instanceof ApiError ? failure.message : "Signing in failed. Try again.");
    } finally {
      button.disabled = false;
    }
  });
}
