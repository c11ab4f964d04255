// The till: signs each VAN request with the terminal's secret, exactly as `mileverse pos`
// does (X-Mileverse-Key, X-Mileverse-Timestamp, X-Mileverse-Signature: hex HMAC-SHA-256
// of `timestamp "\n" METHOD "\n" path "\n" body`), and calls /van/v1 itself. The id and
// secret live in this tab's sessionStorage only.
"use strict";

const STORE_KEY = "mileverse-till";
const encoder = new TextEncoder();

function saved() {
  try {
    return JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
  } catch (error) {
    return null;
  }
}

function save(terminal, secret) {
  sessionStorage.setItem(STORE_KEY, JSON.stringify({ terminal, secret }));
}

// A link from `serve --demo` carries the terminal in its fragment: taken once, then wiped
// from the address bar (a fragment never reaches a server).
function fromFragment() {
  if (!location.hash) return;
  const fields = new URLSearchParams(location.hash.slice(1));
  const terminal = fields.get("terminal");
  const secret = fields.get("secret");
  if (terminal && secret) save(terminal, secret);
  history.replaceState(null, "", location.pathname);
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (byte) => byte.toString(16).padStart(2, "0")).join("");
}

function randomId() {
  return hex(crypto.getRandomValues(new Uint8Array(16)));
}

async function signedFetch(method, path, body) {
  const till = saved();
  const text = body === undefined ? "" : JSON.stringify(body);
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const key = await crypto.subtle.importKey(
    "raw", encoder.encode(till.secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const message = encoder.encode(timestamp + "\n" + method + "\n" + path + "\n" + text);
  const signature = hex(await crypto.subtle.sign("HMAC", key, message));
  const headers = {
    "X-Mileverse-Key": till.terminal,
    "X-Mileverse-Timestamp": timestamp,
    "X-Mileverse-Signature": signature,
  };
  if (text) headers["Content-Type"] = "application/json";
  const answer = await fetch(path, { method, headers, body: text || undefined, credentials: "omit" });
  const json = await answer.json().catch(() => ({}));
  return { status: answer.status, json };
}

const result = document.getElementById("till-result");
const log = document.getElementById("till-log");

function say(text, good) {
  result.textContent = text;
  result.className = good ? "notice" : "error";
}

function problemText(answer) {
  const json = answer.json || {};
  return json.decline_reason || json.detail || json.title || String(answer.status);
}

function logLine(authorization, amount) {
  const item = document.createElement("li");
  const label = document.createElement("span");
  label.textContent = amount + " MVP · " + authorization.authorization_id;
  item.append(label);
  const cancel = document.createElement("button");
  cancel.type = "button";
  cancel.textContent = log.dataset.cancel;
  cancel.dataset.testid = "cancel";
  cancel.addEventListener("click", async () => {
    cancel.disabled = true;
    const path = "/van/v1/authorizations/" + authorization.authorization_id + "/cancel";
    const answer = await signedFetch("POST", path, { van_tx_id: randomId() });
    if (answer.status < 300) {
      say(result.dataset.cancelled + " · " + amount + " MVP", true);
      label.textContent += " · " + result.dataset.cancelled;
    } else {
      say(problemText(answer), false);
      cancel.disabled = false;
    }
  });
  item.append(cancel);
  log.prepend(item);
}

async function charge(event) {
  event.preventDefault();
  const form = event.target;
  const code = form.code.value.replace(/\s+/g, "");
  const amount = Number(form.amount.value);
  const till = saved();
  const body = {
    terminal_id: till.terminal, pay_code: code, amount, van_tx_id: randomId(), capture: true, allow_partial: false,
  };
  say("…", true);
  const answer = await signedFetch("POST", "/van/v1/authorizations", body);
  const authorization = answer.json;
  if (answer.status < 300 && authorization.result === "approved") {
    say(result.dataset.approved + " · " + amount + " MVP · " + authorization.approval_no, true);
    logLine(authorization, amount);
    form.reset();
    form.code.focus();
  } else {
    say(result.dataset.declined + " · " + problemText(answer), false);
  }
}

// The QR payment: a checkout intent made with the terminal's signature, shown as the QR
// code of its pay page; the till asks after it every second until the member approved it,
// or it expired or was canceled (never past its expiry, and never more than POLLS_MAX).
const QR_POLL_MS = 1000;
const POLLS_MAX = 1800;
const qrIntent = document.getElementById("qr-intent");
const qrResult = document.getElementById("qr-result");
// Each new QR payment stops the polling of the one before.
let qrGeneration = 0;

function qrSay(text, good) {
  qrResult.textContent = text;
  qrResult.className = good ? "notice" : "error";
}

async function qrPayment(event) {
  event.preventDefault();
  const form = event.target;
  const amount = Number(form.amount.value);
  const body = {
    order_id: "till-" + randomId(), amount, return_url: location.origin + "/till",
    description: "", capture_method: "automatic",
  };
  const generation = ++qrGeneration;
  qrIntent.hidden = true;
  delete qrResult.dataset.status;
  say("…", true);
  const answer = await signedFetch("POST", "/checkout/v1/intents", body);
  if (answer.status >= 300) {
    say(result.dataset.declined + " · " + problemText(answer), false);
    return;
  }
  result.textContent = "";
  result.className = "";
  const intent = answer.json;
  document.getElementById("qr-image").src = "/v1/checkout/intents/" + encodeURIComponent(intent.intent_id) + "/qr.svg";
  document.getElementById("qr-pay-url").textContent = intent.pay_url;
  qrIntent.hidden = false;
  qrSay(qrResult.dataset.waiting + " · " + amount + " MVP", true);
  form.reset();
  pollIntent(intent, amount, generation, 0);
}

async function pollIntent(intent, amount, generation, polls) {
  if (generation !== qrGeneration) return;
  const answer = await signedFetch("GET", "/checkout/v1/intents/" + encodeURIComponent(intent.intent_id));
  if (generation !== qrGeneration) return;
  const status = answer.status < 300 ? answer.json.status : "";
  if (status === "succeeded" || status === "requires_capture") {
    qrSay(qrResult.dataset.approved + " · " + amount + " MVP · " + answer.json.approval_no, true);
    qrResult.dataset.status = "approved";
    return;
  }
  if (status === "expired" || status === "canceled") {
    qrSay(qrResult.dataset[status] + " · " + amount + " MVP", false);
    qrResult.dataset.status = status;
    return;
  }
  const past = Date.parse(intent.expires_at) + 5000 < Date.now();
  if (past || polls + 1 >= POLLS_MAX) {
    qrSay(qrResult.dataset.expired + " · " + amount + " MVP", false);
    qrResult.dataset.status = "expired";
    return;
  }
  setTimeout(() => pollIntent(intent, amount, generation, polls + 1), QR_POLL_MS);
}

function show() {
  const till = saved();
  document.getElementById("till-setup").hidden = Boolean(till);
  document.getElementById("till-sale").hidden = !till;
  if (till) document.getElementById("till-terminal").textContent = till.terminal;
}

fromFragment();
document.getElementById("till-setup").addEventListener("submit", (event) => {
  event.preventDefault();
  save(event.target.terminal.value.trim(), event.target.secret.value.trim());
  show();
});
document.getElementById("till-forget").addEventListener("click", () => {
  sessionStorage.removeItem(STORE_KEY);
  qrGeneration++;
  qrIntent.hidden = true;
  show();
});
document.getElementById("sale").addEventListener("submit", charge);
document.getElementById("qr-sale").addEventListener("submit", qrPayment);
show();
