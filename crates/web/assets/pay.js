// The pay screen: counts the code's seconds down, swaps in a new code before the old one
// expires, and shows "paid" as soon as the member's history has a payment newer than the
// page. Everything it fetches is this origin's, with the browser's own session cookie.
"use strict";

const POLL_MS = 1000;
const RENEW_BEFORE_S = 3;

const box = document.getElementById("code-box");
const section = document.getElementById("paycode");
const paid = document.getElementById("paid");
const sinceNs = section.dataset.sinceNs;
let remaining = 0;
let renewing = false;
let done = false;

function readRemaining() {
  const code = box.querySelector(".code");
  remaining = code ? Number(code.dataset.remainingS) : 0;
}

async function renew() {
  if (renewing || done) return;
  renewing = true;
  try {
    const answer = await fetch("/app/pay/code", { credentials: "same-origin" });
    if (answer.redirected || !answer.ok) {
      location.assign("/app/pay");
      return;
    }
    box.innerHTML = await answer.text();
    readRemaining();
  } finally {
    renewing = false;
  }
}

function tick() {
  if (done) return;
  remaining = Math.max(0, remaining - 1);
  const countdown = box.querySelector(".countdown");
  if (countdown) countdown.textContent = String(remaining);
  if (remaining <= RENEW_BEFORE_S) renew();
}

async function poll() {
  if (done) return;
  try {
    const answer = await fetch("/app/pay/status?since_ns=" + encodeURIComponent(sinceNs), {
      credentials: "same-origin",
    });
    if (answer.ok) {
      const status = await answer.json();
      if (status.paid) {
        done = true;
        document.getElementById("paid-amount").textContent = status.amount;
        document.getElementById("paid-balance").textContent = status.balance;
        section.hidden = true;
        paid.hidden = false;
        paid.focus();
        return;
      }
    }
  } catch (error) {
    // A dropped poll is retried on the next beat.
  }
  setTimeout(poll, POLL_MS);
}

readRemaining();
setInterval(tick, 1000);
setTimeout(poll, POLL_MS);
