// The site admin's page at the site service: upload (several files, each with progress and its result),
// list, search and delete this site's documents through the admin API (/v1/admin/...).
// Every URL is the site's own: at the root of a site service, or under /sites/<id>/ of a site host that
// serves several sites (this file is <site>/web/admin/admin.js, so the site's root is two folders up).
import { ApiError, callApi, citationPlace, el, fill, forgetKey, getJson, keyId, sentenceFor, show, signInForm, storedKey } from "../common/app.js";

const SITE_ROOT = new URL("../../", import.meta.url).pathname;
/** `path` (absolute for a site service at the root) under this page's site. */
const at = (path) => SITE_ROOT + path.replace(/^\//, "");
const PAGE = `admin${SITE_ROOT}`; // each site's key apart: the sites of one host share this tab's storage
const $ = (id) => document.getElementById(id);
let key = null;
let documents = [];

const EGRESS = {
  answer: "only checked answers and citations leave this site, no passage text",
  snippets: "answers, evidence sentences and passage openings leave this site (redacted)",
  passages: "answers, evidence and whole passages leave this site (redacted)",
};

async function loadSiteFacts() {
  try {
    // /health says only that the site is up and which model it serves; the rest is for its admins.
    const health = await getJson(at("/health"), { what: "The site service" });
    document.title = `rag-fed: ${health.site_id} documents`;
    const facts = [
      el("strong", { text: `Site ${health.site_id}` }),
      ` · model version `,
      el("code", { id: "model-version", text: health.serving_version }),
    ];
    if (key) {
      const status = await getJson(at("/v1/admin/status"), { key, what: "The site service" });
      const egress = EGRESS[status.egress] || status.egress;
      facts.push(
        ` · egress policy `,
        el("strong", { id: "egress", text: status.egress }),
        `: ${egress} · ${status.chunks} chunks`,
        status.reembed && status.reembed.state === "running"
          ? ` · re-embedding to ${status.reembed.target_version}: ${status.reembed.chunks_done} of ${status.reembed.chunks_total} chunks`
          : "",
      );
    }
    fill($("site-summary"), ...facts);
    $("site-summary").className = "";
  } catch (error) {
    fill($("site-summary"), error instanceof ApiError ? error.message : "The site's status could not be read.");
    $("site-summary").className = "error";
  }
}

// ---- documents ----

function documentPath(docId) {
  return at(`/v1/admin/documents/${docId.split("/").map(encodeURIComponent).join("/")}`);
}

function renderDocuments() {
  const needle = $("filter").value.trim().toLowerCase();
  const shown = documents.filter((d) => !needle || `${d.doc_id} ${d.title} ${d.kind} ${d.source}`.toLowerCase().includes(needle));
  fill($("documents-title"), `Documents (${shown.length === documents.length ? documents.length : `${shown.length} of ${documents.length}`})`);
  fill(
    $("documents").querySelector("tbody"),
    shown.map((d) =>
      el(
        "tr",
        { dataset: { doc: d.doc_id } },
        el("td", { class: "id", text: d.doc_id }),
        el("td", { text: d.title }),
        el("td", { text: d.kind }),
        el("td", { class: "id", text: d.source }),
        el("td", { class: "num", text: String(d.chunks) }),
        el("td", { text: d.added_at ? new Date(d.added_at).toLocaleString() : "" }),
        el("td", {}, el("button", { type: "button", class: "danger", "aria-label": `Delete ${d.doc_id}`, onclick: () => confirmDelete(d) }, "Delete")),
      ),
    ),
  );
}

async function loadDocuments() {
  fill($("documents-error"));
  fill($("documents-note"));
  try {
    documents = await getJson(at("/v1/admin/documents"), { key, what: "The site service" });
    renderDocuments();
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signOut(error.message);
    fill($("documents-error"), error instanceof ApiError ? error.message : "The documents could not be loaded.");
  }
}

function confirmDelete(doc) {
  const dialog = $("confirm-delete");
  fill($("confirm-text"), `${doc.doc_id} (${doc.chunks} chunks)`);
  const cancel = $("confirm-cancel");
  const ok = $("confirm-ok");
  const done = async (confirmed) => {
    cancel.onclick = ok.onclick = null;
    dialog.close();
    if (!confirmed) return;
    let note = "";
    let failure = "";
    try {
      const removed = await getJson(documentPath(doc.doc_id), { key, method: "DELETE", what: "The site service" });
      note = `Deleted ${removed.doc_id} (${removed.chunks_removed} chunks).`;
    } catch (error) {
      failure = error instanceof ApiError ? error.message : "The document could not be deleted.";
    }
    await loadDocuments();
    fill($("documents-note"), note);
    if (failure) fill($("documents-error"), failure);
    loadSiteFacts();
  };
  cancel.onclick = () => done(false);
  ok.onclick = () => done(true);
  dialog.showModal();
  cancel.focus();
}

// ---- uploads ----

function uploadResult(result) {
  if (result.status === "unchanged") return "unchanged: already on this site";
  const what = `${result.documents} document(s), ${result.chunks} chunk(s)`;
  const extra = [result.unchanged ? `${result.unchanged} unchanged` : "", result.removed ? `${result.removed} removed` : ""].filter(Boolean).join(", ");
  return `${result.status}: ${what}${extra ? `, ${extra}` : ""}`;
}

/** One file through XMLHttpRequest (fetch reports no upload progress). Resolves with a line to show. */
function uploadOne(file, progress) {
  return new Promise((resolve) => {
    const request = new XMLHttpRequest();
    request.open("POST", at("/v1/admin/documents"));
    request.setRequestHeader("Authorization", `Bearer ${key}`);
    request.setRequestHeader("Accept", "application/json");
    request.timeout = 600000;
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) progress.value = event.loaded / event.total;
    });
    request.addEventListener("load", () => {
      progress.value = 1;
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch {
        body = null;
      }
      if (request.status >= 200 && request.status < 300 && body) resolve({ ok: true, text: uploadResult(body) });
      else resolve({ ok: false, status: request.status, text: `failed: ${sentenceFor(request.status, body, "The site service")}` });
    });
    request.addEventListener("error", () => resolve({ ok: false, text: "failed: the site service could not be reached." }));
    request.addEventListener("timeout", () => resolve({ ok: false, text: "failed: no answer within 10 minutes." }));
    const form = new FormData();
    form.append("file", file, file.name);
    request.send(form);
  });
}

async function uploadAll(event) {
  event.preventDefault();
  const files = [...$("files").files];
  if (files.length === 0) return;
  $("upload").disabled = true;
  const rows = files.map((file) => {
    const progress = el("progress", { max: "1", value: "0" });
    const result = el("span", { class: "result hint", text: "waiting…" });
    const row = el("li", { dataset: { file: file.name } }, el("span", { class: "file", text: file.name }), progress, result);
    return { file, progress, result, row };
  });
  fill($("uploads"), rows.map((r) => r.row));
  for (const { file, progress, result, row } of rows) {
    fill(result, "uploading and ingesting…");
    const outcome = await uploadOne(file, progress);
    result.className = `result ${outcome.ok ? "ok" : "error"}`;
    row.dataset.outcome = outcome.ok ? "ok" : "failed";
    fill(result, outcome.text);
    if (outcome.status === 401) {
      signOut("This site admin key was not accepted. Sign in again.");
      break;
    }
  }
  $("upload").disabled = false;
  $("files").value = "";
  await loadDocuments();
  loadSiteFacts();
}

// ---- search ----

async function search(event) {
  event.preventDefault();
  const query = $("search-query").value.trim();
  fill($("search-error"));
  if (!query) return;
  const params = new URLSearchParams({ q: query, k: "10" });
  if ($("search-mode").value) params.set("mode", $("search-mode").value);
  try {
    const passages = await getJson(at(`/v1/admin/search?${params}`), { key, what: "The site service" });
    if (passages.length === 0) fill($("search-error"), "Nothing on this site matches.");
    fill(
      $("results"),
      passages.map((p) =>
        el(
          "li",
          {},
          el("div", { class: "where" }, `${p.rank}. ${p.citation.title || p.citation.doc_id}`, citationPlace(p.citation) ? ` · ${citationPlace(p.citation)}` : ""),
          el("div", { class: "hint", text: `${p.citation.doc_id} · score ${p.score.toFixed(3)}` }),
          el("p", { class: "passage-text", text: p.text }),
        ),
      ),
    );
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return signOut(error.message);
    fill($("search-error"), error instanceof ApiError ? error.message : "The search failed.");
  }
}

// ---- sign in and out ----

function signedIn(newKey) {
  key = newKey;
  show($("sign-in"), false);
  show($("workspace"), true);
  show($("sign-out"), true);
  fill($("who"), `Site admin · key ${keyId(key)}`);
  loadDocuments();
  loadSiteFacts();
}

function signOut(reason = "") {
  forgetKey(PAGE);
  key = null;
  documents = [];
  show($("workspace"), false);
  show($("sign-out"), false);
  show($("sign-in"), true);
  fill($("who"), "This site's documents");
  fill($("sign-in-error"), reason);
  $("key").focus();
}

signInForm({
  page: PAGE,
  form: $("sign-in-form"),
  input: $("key"),
  error: $("sign-in-error"),
  check: (candidate) => getJson(at("/v1/admin/documents"), { key: candidate, what: "The site service" }),
  onSignedIn: signedIn,
});
$("sign-out").addEventListener("click", () => signOut());
$("upload-form").addEventListener("submit", uploadAll);
$("search-form").addEventListener("submit", search);
$("filter").addEventListener("input", renderDocuments);
loadSiteFacts();
const saved = storedKey(PAGE);
if (saved) signedIn(saved);
else signOut();
