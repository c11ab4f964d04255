// Escrowed trades in a real browser: member A converts MVP to TTC and offers 5 TTC for
// 500 MVP on /app/trades (the TTC locked at once); member B, with MVP, opens the offer,
// takes it (the price locked) and confirms: both legs move together. Then A offers 1 TTC
// for 100 MVP, B takes it and opens a dispute, and an operator releases it on the
// console's disputes page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, failureEvidence, launchBrowser, leaveEvidence, phone, screenshot, startServer } from "../lib/harness.js";
import { consoleLogIn, convertAssets, exchange, homeBalance, linkDemoPartner, signUp } from "../lib/journeys.js";

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

const A_PHONE = "01055509001";
const B_PHONE = "01055509002";

/// Offers `amount` TTC for `price` MVP through /app/trades; ends on the trade's page.
async function offerTtc(page, server, amount, price) {
  await page.goto(server.baseUrl + "/app/trades");
  await page.getByLabel("Asset you sell").selectOption("TTC");
  await page.getByLabel("Amount you sell, in whole units").fill(amount);
  await page.getByLabel("Asset of the price").selectOption("MVP");
  await page.getByLabel("Price", { exact: true }).fill(price);
  await page.getByLabel("Payment").selectOption("on_platform");
  await page.getByRole("button", { name: "Offer", exact: true }).click();
  await page.waitForURL(/\/app\/trades\/[0-9]+\?done=offered$/);
  return page.url().match(/\/app\/trades\/([0-9]+)/)[1];
}

/// Opens trade `id` from the open offers on /app/trades and takes it.
async function takeOffer(page, server, id) {
  await page.goto(server.baseUrl + "/app/trades");
  await page.locator(`[data-testid="offer"][data-trade="${id}"] a`).click();
  await page.waitForURL(new RegExp("/app/trades/" + id + "$"));
  await page.getByRole("button", { name: "Take this offer" }).click();
  await page.waitForURL(new RegExp("/app/trades/" + id + "\\?done=take$"));
}

test("A offers TTC for MVP, B takes and confirms; a disputed trade is released on the console", async () => {
  const contextA = await phone(browser);
  const a = await contextA.newPage();
  failureEvidence(a, "escrow-a");
  const consoleErrors = [];
  a.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await signUp(a, server, A_PHONE, "Seo Yuna");
  await linkDemoPartner(a, "DA-9001");
  await exchange(a, 5000);
  // 1,000 MVP to 9.9 TTC (TTC at 100 KRW, less the 1 % spread).
  await convertAssets(a, server, "MVP", "TTC", "1000");
  assert.equal(await homeBalance(a, server), "4,000");
  assert.equal(await a.getByTestId("balance-TTC").textContent(), "9.9");

  const contextB = await phone(browser);
  const b = await contextB.newPage();
  failureEvidence(b, "escrow-b");
  await signUp(b, server, B_PHONE, "Choi Dohyun");
  await linkDemoPartner(b, "DA-9002");
  await exchange(b, 5000);
  assert.equal(await homeBalance(b, server), "5,000");

  // A offers 5 TTC for 500 MVP from the trades page, linked from home.
  await a.goto(server.baseUrl + "/app");
  await a.getByRole("link", { name: "Trades", exact: true }).click();
  await a.waitForURL(/\/app\/trades$/);
  await assertAccessible(a, "trades");
  const id = await offerTtc(a, server, "5", "500");
  await a.getByText("Offered: your coins are in escrow.").waitFor();
  assert.equal(await a.getByTestId("trade-status").getAttribute("data-status"), "open");
  assert.equal(await a.getByTestId("trade-goods").textContent(), "5 TTC");
  assert.equal(await a.getByTestId("trade-price").textContent(), "500 MVP");
  assert.equal(await a.getByTestId("trade-role").textContent(), "Seller");
  assert.equal(await a.getByRole("button", { name: "Cancel the offer" }).count(), 1);
  assert.equal(await a.getByRole("button", { name: "Take this offer" }).count(), 0);
  await screenshot(a, "19-trade-offered");
  await assertAccessible(a, "trade offered");
  // The 5 TTC are on hold: 4.9 available.
  assert.equal(await homeBalance(a, server), "4,000");
  assert.equal(await a.getByTestId("balance-TTC").textContent(), "4.9");

  // B opens the offer from the list, takes it (500 MVP locked), and confirms.
  await takeOffer(b, server, id);
  assert.equal(await b.getByTestId("trade-status").getAttribute("data-status"), "taken");
  assert.equal(await b.getByTestId("trade-role").textContent(), "Buyer");
  await b.getByTestId("trade-deadline").waitFor();
  await assertAccessible(b, "trade taken");
  await b.getByRole("button", { name: "Confirm and complete" }).click();
  await b.waitForURL(new RegExp("/app/trades/" + id + "\\?done=confirm$"));
  assert.equal(await b.getByTestId("trade-status").getAttribute("data-status"), "completed");
  assert.equal(await b.getByRole("button").filter({ hasText: /Confirm|Take|Cancel/ }).count(), 0);
  await b.goto(server.baseUrl + "/app/trades");
  assert.equal(await b.locator(`[data-testid="my-trade"][data-trade="${id}"]`).getAttribute("data-status"), "completed");

  // Both legs moved: B has the TTC and 500 MVP less; A has the 500 MVP and 4.9 TTC.
  assert.equal(await homeBalance(b, server), "4,500");
  assert.equal(await b.getByTestId("balance-TTC").textContent(), "5");
  assert.equal(await homeBalance(a, server), "4,500");
  assert.equal(await a.getByTestId("balance-TTC").textContent(), "4.9");

  // A second trade, disputed by B, released by an operator on the console.
  const second = await offerTtc(a, server, "1", "100");
  await takeOffer(b, server, second);
  await b.getByLabel("What went wrong").fill("The seller asked me to pay twice.");
  await b.getByLabel("Evidence (optional: a bank reference, a link)").fill("chat log 42");
  await b.getByRole("button", { name: "Open a dispute" }).click();
  await b.waitForURL(new RegExp("/app/trades/" + second + "\\?done=dispute$"));
  assert.equal(await b.getByTestId("trade-status").getAttribute("data-status"), "disputed");
  assert.equal(await b.getByTestId("dispute-text").textContent(), "The seller asked me to pay twice.");

  const desk = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-US" });
  const operator = await desk.newPage();
  failureEvidence(operator, "escrow-console");
  await consoleLogIn(operator, server, "demo-operator");
  await operator.getByRole("link", { name: "Disputes", exact: true }).click();
  await operator.waitForURL(/\/console\/disputes$/);
  const dispute = operator.locator(`[data-testid="dispute"][data-dispute="${second}"]`);
  assert.equal(await dispute.getByTestId("dispute-text").textContent(), "The seller asked me to pay twice.");
  assert.equal(await dispute.getByTestId("dispute-evidence").textContent(), "chat log 42");
  await assertAccessible(operator, "console disputes");
  await dispute.getByLabel("Note (kept in the audit log)").fill("Paid once; the coins go to the buyer.");
  await dispute.getByRole("button", { name: "Release" }).click();
  await operator.waitForURL(/\/console\/disputes\?done=resolved$/);
  await operator.getByText("Dispute resolved.").waitFor();
  assert.equal(await operator.locator(`[data-testid="dispute"][data-dispute="${second}"]`).count(), 0);

  await b.goto(server.baseUrl + "/app/trades/" + second);
  assert.equal(await b.getByTestId("trade-status").getAttribute("data-status"), "released");
  assert.equal(await homeBalance(b, server), "4,400");
  assert.equal(await b.getByTestId("balance-TTC").textContent(), "6");
  assert.equal(await homeBalance(a, server), "4,600");
  assert.equal(await a.getByTestId("balance-TTC").textContent(), "3.9");

  assert.deepEqual(consoleErrors, []);
  await desk.close();
  await contextA.close();
  await contextB.close();
});
