// P2P transfers in a real browser: member A sends MVP to member B's phone with a memo
// (the confirm page names B, masked), B sees it received and the new balance; B asks for
// some back with a request link, and A pays it from that link.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, failureEvidence, launchBrowser, leaveEvidence, phone, screenshot, startServer } from "../lib/harness.js";
import { exchange, homeBalance, linkDemoPartner, sendMvp, signUp } from "../lib/journeys.js";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await leaveEvidence();
  await browser?.close();
  await server?.stop();
});

const A_PHONE = "01055507001";
const B_PHONE = "01055507002";
// Names as the other member sees them: the first and last characters.
const A_NAME = "Han Seoyeon";
const A_MASKED = "H*********n";
const B_NAME = "Jung Minho";
const B_MASKED = "J********o";

test("A sends MVP to B's phone; B asks for some back and A pays it from the link", async () => {
  const contextA = await phone(browser);
  const a = await contextA.newPage();
  failureEvidence(a, "transfers-a");
  const consoleErrors = [];
  a.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await signUp(a, server, A_PHONE, A_NAME);
  await linkDemoPartner(a, "DA-7001");
  await exchange(a, 5000);
  assert.equal(await homeBalance(a, server), "5,000");

  const contextB = await phone(browser);
  const b = await contextB.newPage();
  failureEvidence(b, "transfers-b");
  await signUp(b, server, B_PHONE, B_NAME);
  assert.equal(await homeBalance(b, server), "0");

  // A sends 700 MVP to B's phone: the form, then the confirm page naming B (masked).
  await a.goto(server.baseUrl + "/app/send");
  await assertAccessible(a, "send");
  await sendMvp(a, server, B_PHONE, 700, "Dinner on Friday", async () => {
    assert.equal(await a.getByTestId("recipient-name").textContent(), B_MASKED);
    assert.equal(await a.getByTestId("recipient-new").count(), 0);
    assert.equal(await a.getByTestId("send-amount").textContent(), "700");
    assert.equal(await a.getByTestId("send-memo").textContent(), "Dinner on Friday");
    await screenshot(a, "15-send-confirm");
    await assertAccessible(a, "send confirm");
  });
  await a.getByText("Sent.").waitFor();
  assert.equal(await a.getByTestId("transfer-status").getAttribute("data-status"), "completed");
  assert.equal(await a.getByTestId("transfer-amount").textContent(), "700");
  assert.equal(await a.getByTestId("transfer-counterparty").textContent(), B_MASKED);
  assert.equal(await a.getByTestId("transfer-memo").textContent(), "Dinner on Friday");
  await assertAccessible(a, "transfer");
  assert.equal(await homeBalance(a, server), "4,300");

  // B sees it received, from A (masked), with the memo, and the new balance.
  await b.goto(server.baseUrl + "/app/transfers");
  const received = b.getByTestId("transfer").first();
  assert.equal(await received.getAttribute("data-direction"), "received");
  const line = await received.innerText();
  assert.match(line, new RegExp("Received · " + A_MASKED.replaceAll("*", "\\*")));
  assert.match(line, /Dinner on Friday/);
  assert.match(line, /\+700/);
  await assertAccessible(b, "transfers");
  assert.equal(await homeBalance(b, server), "700");

  // B asks for 200 back: the request's page shows its link and "Cancel", not "Pay".
  await b.goto(server.baseUrl + "/app/transfers");
  await b.getByRole("link", { name: "Request MVP" }).click();
  await b.waitForURL(/\/app\/request$/);
  await b.getByLabel("Amount to ask for (MVP)").fill("200");
  await b.getByLabel("Memo (optional, up to 100 characters)").fill("Coffee");
  await b.getByRole("button", { name: "Make the request" }).click();
  await b.waitForURL(/\/app\/pay-request\/[0-9]+\?done=made$/);
  const payUrl = await b.getByTestId("pay-url").textContent();
  assert.equal(payUrl, b.url().replace(/\?done=made$/, ""));
  assert.ok(payUrl.startsWith(server.baseUrl + "/app/pay-request/"), payUrl);
  assert.equal(await b.getByRole("button", { name: "Cancel the request" }).count(), 1);
  assert.equal(await b.getByRole("button", { name: "Pay", exact: true }).count(), 0);
  await screenshot(b, "16-request-link");
  await assertAccessible(b, "request link");

  // A opens the link: who asks, how much, what for, and "Pay".
  await a.goto(payUrl);
  assert.equal(await a.getByTestId("request-requester").textContent(), B_MASKED);
  assert.equal(await a.getByTestId("request-amount").textContent(), "200");
  assert.equal(await a.getByTestId("request-memo").textContent(), "Coffee");
  assert.equal(await a.getByTestId("request-status").getAttribute("data-status"), "open");
  assert.equal(await a.getByRole("button", { name: "Cancel the request" }).count(), 0);
  await screenshot(a, "17-pay-request");
  await assertAccessible(a, "pay request");
  await a.getByRole("button", { name: "Pay", exact: true }).click();
  await a.waitForURL(/\/app\/transfers\/[0-9]+\?done=sent$/);
  assert.equal(await a.getByTestId("transfer-amount").textContent(), "200");
  assert.equal(await a.getByTestId("transfer-counterparty").textContent(), B_MASKED);

  // Paid: said on the link's page, with no button for either; both balances moved.
  await a.goto(payUrl);
  assert.equal(await a.getByTestId("request-status").getAttribute("data-status"), "paid");
  assert.equal(await a.getByRole("button", { name: "Pay", exact: true }).count(), 0);
  await b.goto(payUrl);
  assert.equal(await b.getByTestId("request-status").getAttribute("data-status"), "paid");
  assert.equal(await b.getByRole("button", { name: "Cancel the request" }).count(), 0);
  assert.equal(await homeBalance(a, server), "4,100");
  assert.equal(await homeBalance(b, server), "900");

  assert.deepEqual(consoleErrors, []);
  await contextA.close();
  await contextB.close();
});
