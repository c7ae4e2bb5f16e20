// The operators' page: the sites with health, breaker state, model version and last sketch
// (GET /v1/sites), and the newest audit entries (GET /v1/audit, operator keys only).
import { ApiError, el, fill, forgetKey, formatTime, getJson, keyId, show, signInForm, storedKey } from "/web/common/app.js";

const PAGE = "ops";
const REFRESH_MS = 15000;
const $ = (id) => document.getElementById(id);
let key = null;
let timer = null;

function cell(text, className) {
  return el("td", { class: className, text: text === null || text === undefined || text === "" ? "–" : String(text) });
}

function siteRow(site) {
  const health = el("td", {}, el("span", { class: `pill ${site.healthy ? "ok" : "bad"}`, text: site.healthy ? "healthy" : "unreachable" }));
  const breakerTone = site.circuit === "closed" ? "ok" : site.circuit === "open" ? "bad" : "warn";
  const breaker = el("td", {}, el("span", { class: `pill ${breakerTone}`, text: site.circuit }));
  const sketch =
    site.sketch_chunks === null || site.sketch_chunks === undefined
      ? "none yet"
      : `${site.sketch_chunks} chunks, ${site.sketch_centroids ?? 0} centroids`;
  return el(
    "tr",
    { dataset: { site: site.site_id } },
    cell(site.site_id, "id"),
    health,
    breaker,
    cell(site.consecutive_failures, "num"),
    cell(site.serving_version),
    cell(sketch),
    cell(site.url, "id"),
  );
}

/** A stored hash shortened to what tells two apart; a question kept as text, cut to a line. */
function shortQuestion(question) {
  if (!question) return "";
  if (question.startsWith("sha256:")) return `${question.slice(0, 19)}…`;
  return question.length > 80 ? `${question.slice(0, 79)}…` : question;
}

function auditRow(entry) {
  const tone = entry.outcome === "ok" ? "ok" : "bad";
  return el(
    "tr",
    {},
    cell(formatTime(entry.at)),
    cell(entry.role),
    cell(entry.key_id, "nowrap"),
    cell(entry.endpoint, "id"),
    el("td", {}, el("span", { class: `pill ${tone}`, text: entry.outcome })),
    cell(entry.sites.join(", ")),
    cell(shortQuestion(entry.question)),
  );
}

async function refresh() {
  if (!key) return;
  fill($("sites-error"));
  fill($("audit-error"));
  try {
    const sites = await getJson("/v1/sites", { key, what: "The gateway" });
    fill($("sites").querySelector("tbody"), sites.map(siteRow));
    fill($("sites-checked"), `${sites.length} site(s), checked ${new Date().toLocaleTimeString()}.`);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signOut(error.message);
    fill($("sites-error"), error instanceof ApiError ? error.message : "The sites could not be loaded.");
  }
  try {
    const entries = await getJson("/v1/audit?limit=50", { key, what: "The gateway" });
    fill($("audit").querySelector("tbody"), entries.map(auditRow));
  } catch (error) {
    const forbidden = error instanceof ApiError && error.status === 403;
    fill($("audit-error"), forbidden ? "The audit log is for operator keys." : error.message || "The audit log could not be loaded.");
  }
}

function signedIn(newKey) {
  key = newKey;
  show($("sign-in"), false);
  show($("board"), true);
  show($("refresh"), true);
  show($("sign-out"), true);
  fill($("who"), `Operator · key ${keyId(key)}`);
  refresh();
  clearInterval(timer);
  timer = setInterval(refresh, REFRESH_MS);
}

function signOut(reason = "") {
  forgetKey(PAGE);
  key = null;
  clearInterval(timer);
  show($("board"), false);
  show($("refresh"), false);
  show($("sign-out"), false);
  show($("sign-in"), true);
  fill($("who"), "Sites, their health and the audit log");
  fill($("sign-in-error"), reason);
  $("key").focus();
}

signInForm({
  page: PAGE,
  form: $("sign-in-form"),
  input: $("key"),
  error: $("sign-in-error"),
  check: (candidate) => getJson("/v1/sites", { key: candidate, what: "The gateway" }),
  onSignedIn: signedIn,
});
$("sign-out").addEventListener("click", () => signOut());
$("refresh").addEventListener("click", refresh);
const saved = storedKey(PAGE);
if (saved) signedIn(saved);
else signOut();
