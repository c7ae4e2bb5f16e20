// The engineers' page: sign in, ask, read the answer as it streams, open its citations, say what was
// useful. Talks to the gateway's OpenAI-compatible POST /v1/chat/completions and POST /v1/feedback.
import {
  ApiError,
  callApi,
  citationLabel,
  citationPlace,
  el,
  fill,
  forgetKey,
  getJson,
  keyId,
  randomId,
  show,
  signInForm,
  storedKey,
} from "/web/common/app.js";

const PAGE = "engineer";
const HISTORY_LIMIT = 10;
// A tag as answers print it; only the labels of the answer's own sources become buttons.
const CITATION_TAG = /\[[a-z0-9][a-z0-9-]{0,62}:[^[\]\n]+\]/g;
const $ = (id) => document.getElementById(id);
const STRATEGIES = { extractive: "evidence only", grounded: "grounded", generative: "generative" };
// Why an answer was declined (rag_fed.refusal), in words an engineer reads.
const REFUSALS = {
  "no evidence": "no site found anything to quote",
  "below min_support": "the nearest passages do not support an answer",
  "codes in no evidence": "no evidence found names the codes asked about",
  "asked codes in no passage": "no document found names the codes asked about",
  "no value of the kind asked": "no evidence found gives the kind of value asked for",
  "no reply": "no site replied",
};

const state = {
  key: null,
  model: "rag-fed",
  conversation: null,
  sites: new Map(), // site id -> chosen, learned from the answers' site lists
  busy: false,
};

// ---- conversations kept in this browser (per key id, never the key itself) ----

function historyName() {
  return `ragfed.conversations.${keyId(state.key)}`;
}

function loadHistory() {
  try {
    const list = JSON.parse(localStorage.getItem(historyName()) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function saveConversation() {
  const current = state.conversation;
  if (!current || current.turns.length === 0) return;
  current.updated = Date.now();
  const others = loadHistory().filter((c) => c.id !== current.id);
  const kept = [current, ...others].slice(0, HISTORY_LIMIT);
  try {
    localStorage.setItem(historyName(), JSON.stringify(kept));
  } catch {
    // Storage full or disabled: the conversation still works, it is just not kept.
  }
  renderHistory();
}

function newConversation() {
  state.conversation = { id: `c-${randomId()}`, title: "", updated: Date.now(), turns: [] };
  fill($("turns"));
  show($("empty-chat"), true);
  renderHistory();
  $("question").focus();
}

function openConversation(id) {
  const found = loadHistory().find((c) => c.id === id);
  if (!found || state.busy) return;
  state.conversation = found;
  fill($("turns"));
  show($("empty-chat"), found.turns.length === 0);
  for (const turn of found.turns) {
    const view = addTurnView(turn);
    finishView(view, turn);
  }
  renderHistory();
}

function renderHistory() {
  const list = loadHistory();
  const items = list.map((c) =>
    el(
      "li",
      {},
      el(
        "button",
        {
          type: "button",
          class: c.id === state.conversation?.id ? "conversation current" : "conversation",
          "aria-current": c.id === state.conversation?.id ? "true" : null,
          onclick: () => openConversation(c.id),
        },
        el("span", { class: "title", text: c.title || "(untitled)" }),
        el("span", { class: "when", text: new Date(c.updated).toLocaleString() }),
      ),
    ),
  );
  fill($("conversations"), items);
  show($("no-conversations"), items.length === 0);
}

// ---- options ----

function renderSiteChoices() {
  const choices = [...state.sites.entries()].sort(([a], [b]) => a.localeCompare(b));
  show($("sites-hint"), choices.length === 0);
  fill(
    $("site-choices"),
    choices.map(([site, chosen]) => {
      const box = el("input", { type: "checkbox", value: site, checked: chosen, id: `site-${site}` });
      box.addEventListener("change", () => state.sites.set(site, box.checked));
      return el("label", { class: "check", for: `site-${site}` }, box, ` ${site}`);
    }),
  );
}

function learnSites(extras) {
  let added = false;
  for (const site of extras?.sites || []) {
    if (!state.sites.has(site.site_id)) {
      state.sites.set(site.site_id, true);
      added = true;
    }
  }
  if (added) renderSiteChoices();
}

function options() {
  const chosen = {};
  if ($("strategy").value) chosen.strategy = $("strategy").value;
  if ($("mode").value) chosen.mode = $("mode").value;
  const picked = [...state.sites.entries()].filter(([, on]) => on).map(([site]) => site);
  if (picked.length === 0 && state.sites.size > 0) throw new ApiError("Pick at least one site under Options.");
  if (picked.length < state.sites.size) chosen.sites = picked;
  return chosen;
}

// ---- one question and its answer ----

function addTurnView(turn) {
  const view = {
    root: el("li", { class: "turn" }),
    text: el("div", { class: "answer-text" }),
    status: el("p", { class: "status hint", role: "status" }),
    citations: el("div", { class: "citations" }),
    passage: el("div", { class: "passage card", hidden: true, role: "region", "aria-label": "Passage" }),
    sites: el("p", { class: "sites" }),
    feedback: el("div", { class: "feedback", hidden: true }),
    shown: null,
  };
  view.root.append(
    el("p", { class: "question" }, el("span", { class: "sr-only", text: "You asked: " }), turn.question),
    el("article", { class: "answer card" }, view.text, view.status, view.citations, view.passage, view.sites, view.feedback),
  );
  $("turns").append(view.root);
  show($("empty-chat"), false);
  return view;
}

/** The answer with its [site:doc#section] tags as buttons that open the passage. */
function renderAnswerText(view, turn) {
  const text = turn.answer || "";
  const extras = turn.extras || {};
  const known = new Set(
    [...(extras.citations || []), ...(extras.more || []), ...(extras.evidence || []).map((item) => item.citation)].map(citationLabel),
  );
  const parts = [];
  let last = 0;
  for (const match of text.matchAll(CITATION_TAG)) {
    const label = match[0];
    if (!known.has(label)) continue;
    if (match.index > last) parts.push(text.slice(last, match.index));
    parts.push(el("button", { type: "button", class: "tag", onclick: () => togglePassage(view, turn, label) }, label));
    last = match.index + label.length;
  }
  if (last < text.length) parts.push(text.slice(last));
  fill(view.text, parts);
}

function siteSummary(site) {
  const ms = `${Math.round(site.latency_ms)} ms`;
  const words = {
    answered: `answered in ${ms}`,
    failed: "failed",
    timed_out: `timed out after ${ms}`,
    skipped: "not asked",
  };
  const detail = site.error ? `: ${site.error}` : "";
  const tone = { answered: "ok", failed: "bad", timed_out: "bad", skipped: "muted" }[site.status] || "";
  return el("span", { class: `site ${tone}`, dataset: { site: site.site_id, status: site.status } }, `${site.site_id} ${words[site.status] || site.status}${detail}`);
}

function thumbs(target, turn) {
  const box = el("span", { class: "thumbs" });
  const note = el("span", { class: "thanks hint", role: "status" });
  const send = (useful, button) => sendFeedback({ target, useful, turn, buttons: box, pressed: button, note });
  // Words, not emoji: a shop-floor terminal may have no emoji font.
  const up = el("button", { type: "button", class: "thumb quiet", "aria-label": `Useful: ${target}`, "aria-pressed": "false" }, "Useful");
  const down = el("button", { type: "button", class: "thumb quiet", "aria-label": `Not useful: ${target}`, "aria-pressed": "false" }, "Not useful");
  up.addEventListener("click", () => send(true, up));
  down.addEventListener("click", () => send(false, down));
  box.append(up, down, note);
  return box;
}

async function sendFeedback({ target, useful, turn, buttons, pressed, note }) {
  for (const button of buttons.querySelectorAll("button")) button.disabled = true;
  fill(note, "Sending…");
  try {
    // The question goes with it: the site that owns a cited passage learns from (question, passage) pairs.
    const receipt = await getJson("/v1/feedback", {
      key: state.key,
      method: "POST",
      json: { conversation_id: state.conversation.id, target, useful, question: turn.question },
      what: "The gateway",
    });
    for (const button of buttons.querySelectorAll("button")) button.setAttribute("aria-pressed", String(button === pressed));
    const delivered = receipt && receipt.forwarded && receipt.site_id;
    const undelivered = receipt && !receipt.forwarded && receipt.site_id;
    if (delivered) fill(note, `Thanks, recorded. Site ${receipt.site_id} will learn from it.`);
    else if (undelivered) fill(note, `Thanks, recorded; ${receipt.reason || `site ${receipt.site_id} did not get it`}.`);
    else fill(note, "Thanks, recorded.");
  } catch (error) {
    fill(note, error instanceof ApiError ? error.message : "The feedback could not be sent.");
    note.classList.add("error");
  } finally {
    for (const button of buttons.querySelectorAll("button")) button.disabled = false;
  }
}

function citationLine(citation, turn, view) {
  const label = citationLabel(citation);
  const place = citationPlace(citation);
  const open = el(
    "button",
    { type: "button", class: "cite", title: label, dataset: { label }, onclick: () => togglePassage(view, turn, label) },
    el("span", { class: "cite-site", text: citation.site_id }),
    el("span", { class: "cite-doc", text: citation.title || citation.doc_id }),
    place ? el("span", { class: "cite-place", text: place }) : null,
  );
  return el("li", {}, open, thumbs(label, turn));
}

// What the site lets out for one citation, asked once per answer and source: POST /v1/query to that site
// alone, retrieval only (no model runs), with the question the answer was retrieved for.
const openedPassages = new WeakMap();

async function openPassage(turn, citation) {
  const label = citationLabel(citation);
  const cache = openedPassages.get(turn) || new Map();
  openedPassages.set(turn, cache);
  if (!cache.has(label)) {
    const body = { question: turn.extras?.question || turn.question, sites: [citation.site_id], want_answer: false, k: 20 };
    if (turn.mode) body.mode = turn.mode;
    const reply = getJson("/v1/query", { key: state.key, method: "POST", json: body, what: "The gateway" }).then((found) => {
      const site = (found.sites || []).find((s) => s.site_id === citation.site_id) || {};
      const passages = (found.passages || []).filter((p) => citationLabel(p.citation) === label);
      return { egress: site.egress || null, status: site.status || "failed", error: site.error || "", passages };
    });
    reply.catch(() => cache.delete(label)); // a failure is not kept: the next click asks again
    cache.set(label, reply);
  }
  return cache.get(label);
}

function quote(text) {
  return el("blockquote", { class: "passage-text", text });
}

/** The passage behind a citation: what the answer quoted, the passage as the site released it, or
 * that the site keeps its text private. All text goes in as text. */
async function togglePassage(view, turn, label) {
  if (view.shown === label) {
    view.shown = null;
    show(view.passage, false);
    return;
  }
  view.shown = label;
  const extras = turn.extras || {};
  const items = (extras.evidence || []).filter((item) => citationLabel(item.citation) === label && item.text);
  const known = [...(extras.citations || []), ...(extras.more || [])].find((c) => citationLabel(c) === label);
  const citation = items[0]?.citation || known;
  if (!citation) return;
  const site = citation.site_id;
  const heading = [site, citation.title || citation.doc_id, citationPlace(citation)].filter(Boolean).join(" · ");
  const content = el("div", { class: "passage-body" }, el("p", { class: "hint", text: "Opening the passage…" }));
  fill(
    view.passage,
    el(
      "div",
      { class: "passage-head" },
      el("h3", { text: heading }),
      el("button", { type: "button", class: "quiet close", onclick: () => togglePassage(view, turn, label) }, "Close"),
    ),
    content,
    el("p", { class: "hint", text: label }),
  );
  view.passage.dataset.label = label;
  delete view.passage.dataset.egress;
  show(view.passage, true);
  const parts = [];
  let opened;
  try {
    opened = await openPassage(turn, citation);
  } catch (error) {
    opened = { status: "failed", error: error instanceof ApiError ? error.message : "", egress: null, passages: [] };
  }
  if (view.shown !== label) return; // another citation was opened meanwhile
  if (opened.egress) view.passage.dataset.egress = opened.egress;
  if (opened.egress === "answer") {
    parts.push(
      el("p", {
        class: "private",
        text: `${site} keeps its text private: its egress policy lets no passage text leave the site. Ask the ${site} team for this document if you need the passage.`,
      }),
    );
    if (items.length) parts.push(el("p", { class: "hint", text: `What ${site}'s own model answered from it (checked against the passage at the site):` }), items.map((item) => quote(item.text)));
  } else {
    if (items.length) parts.push(el("h4", { text: "Quoted in the answer" }), items.map((item) => quote(item.text)));
    const passage = opened.passages.find((p) => items.some((item) => p.text.includes(item.text.slice(0, 40)))) || opened.passages[0];
    if (passage && passage.text) {
      const title = opened.egress === "snippets" ? `Passage opening (${site} sends at most the first 300 characters)` : "Passage";
      parts.push(el("h4", { text: title }), quote(passage.text));
    } else if (opened.status !== "answered") {
      const why = opened.error ? `: ${opened.error}` : "";
      parts.push(el("p", { class: "error", text: `The passage could not be opened: ${site} did not answer (${opened.status.replace("_", " ")}${why}).` }));
    } else if (!items.length) {
      parts.push(el("p", { class: "hint", text: `${site} did not return this passage again for the question; no text of it came with the answer.` }));
    }
  }
  fill(content, parts);
}

function finishView(view, turn) {
  renderAnswerText(view, turn);
  fill(view.status);
  if (turn.error) {
    view.status.className = "status error";
    fill(view.status, turn.error);
    return;
  }
  view.status.className = "status hint";
  const extras = turn.extras;
  if (!extras) return;
  if (extras.refused) {
    const why = REFUSALS[extras.refusal];
    fill(view.status, `The documents of the sites asked do not answer this question${why ? `: ${why}` : ""}.`);
  }
  else if (turn.seconds) fill(view.status, `Answered in ${turn.seconds.toFixed(1)} s (${STRATEGIES[extras.strategy] || extras.strategy}).`);
  const sections = [];
  if (extras.citations?.length) {
    sections.push(el("h3", { text: "Sources" }), el("ul", { class: "cite-list" }, extras.citations.map((c) => citationLine(c, turn, view))));
  }
  const cited = new Set((extras.citations || []).map(citationLabel));
  const more = (extras.more || []).filter((c) => {
    const label = citationLabel(c);
    return !cited.has(label) && cited.add(label);
  });
  if (more.length) {
    sections.push(
      el(
        "details",
        { class: "more" },
        el("summary", { text: `Also found (${more.length})` }),
        el("ul", { class: "cite-list more" }, more.map((c) => citationLine(c, turn, view))),
      ),
    );
  }
  fill(view.citations, sections);
  fill(view.sites, el("span", { class: "hint", text: "Sites: " }), extras.sites.map(siteSummary));
  fill(view.feedback, el("span", { class: "hint", text: "Was this answer useful? " }), thumbs("answer", turn));
  show(view.feedback, true);
}

/** Read the SSE stream of chat.completion.chunk events; `onChunk` gets each parsed event. */
async function readEvents(response, onChunk) {
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r/g, "");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const raw = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = raw
        .split("\n")
        .filter((line) => line.startsWith("data:"))
        .map((line) => line.slice(5).replace(/^ /, ""))
        .join("\n");
      if (!data) continue; // a keep-alive comment
      if (data === "[DONE]") return;
      onChunk(JSON.parse(data));
    }
  }
}

function priorMessages() {
  const messages = [];
  for (const turn of state.conversation.turns) {
    if (turn.error || !turn.answer) continue;
    messages.push({ role: "user", content: turn.question }, { role: "assistant", content: turn.answer });
  }
  return messages;
}

async function ask(question) {
  const chosen = options();
  const messages = [...priorMessages(), { role: "user", content: question }];
  const turn = { question, answer: "", extras: null, error: null, seconds: 0, mode: chosen.mode || null };
  state.conversation.turns.push(turn);
  if (!state.conversation.title) state.conversation.title = question.slice(0, 80);
  const view = addTurnView(turn);
  view.root.scrollIntoView({ block: "start" });
  fill(view.status, "Asking the sites…");
  const started = performance.now();
  try {
    const response = await callApi("/v1/chat/completions", {
      key: state.key,
      method: "POST",
      json: { model: state.model, messages, stream: true, rag_fed: chosen },
      what: "The gateway",
    });
    fill(view.status, "Answering…");
    await readEvents(response, (chunk) => {
      if (chunk.error) throw new ApiError(`The answer stopped: ${chunk.error.message}`);
      const delta = chunk.choices?.[0]?.delta?.content;
      if (delta) {
        turn.answer += delta;
        view.text.textContent = turn.answer;
      }
      if (chunk.rag_fed) turn.extras = chunk.rag_fed;
    });
    turn.seconds = (performance.now() - started) / 1000;
    if (!turn.extras) turn.error = "The answer was cut off before it finished. Try again.";
  } catch (error) {
    turn.error = error instanceof ApiError ? error.message : "Something went wrong while reading the answer. Try again.";
    if (error instanceof ApiError && error.status === 401) {
      signOut(error.message);
      return;
    }
  }
  learnSites(turn.extras);
  finishView(view, turn);
  saveConversation();
}

// ---- sign in and out ----

function signedIn(key) {
  state.key = key;
  show($("sign-in"), false);
  show($("chat"), true);
  show($("new-chat"), true);
  show($("sign-out"), true);
  fill($("who"), `Engineer · key ${keyId(key)}`);
  const latest = loadHistory()[0];
  if (latest) openConversation(latest.id);
  else newConversation();
  $("question").focus();
}

function signOut(reason = "") {
  forgetKey(PAGE);
  state.key = null;
  show($("chat"), false);
  show($("new-chat"), false);
  show($("sign-out"), false);
  show($("sign-in"), true);
  fill($("who"), "Maintenance documents of every site, with citations");
  fill($("sign-in-error"), reason);
  $("key").focus();
}

async function checkKey(key) {
  const models = await getJson("/v1/models", { key, what: "The gateway" });
  if (models?.data?.[0]?.id) state.model = models.data[0].id;
}

function start() {
  signInForm({ page: PAGE, form: $("sign-in-form"), input: $("key"), error: $("sign-in-error"), check: checkKey, onSignedIn: signedIn });
  $("sign-out").addEventListener("click", () => signOut());
  $("new-chat").addEventListener("click", () => {
    if (!state.busy) newConversation();
  });
  $("question").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      $("ask-form").requestSubmit();
    }
  });
  $("ask-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const question = $("question").value.trim();
    fill($("ask-error"));
    if (!question || state.busy) return;
    state.busy = true;
    $("ask").disabled = true;
    try {
      await ask(question);
      $("question").value = "";
    } catch (error) {
      fill($("ask-error"), error instanceof ApiError ? error.message : "The question could not be sent.");
    } finally {
      state.busy = false;
      $("ask").disabled = false;
    }
  });
  const key = storedKey(PAGE);
  if (!key) {
    signOut();
    return;
  }
  checkKey(key).then(
    () => signedIn(key),
    (error) => signOut(error instanceof ApiError ? error.message : ""),
  );
}

start();
