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
  show();
});
document.getElementById("sale").addEventListener("submit", charge);
show();
