// Several assets in a real browser: a member with MVP from an exchange converts 1,000 MVP
// to TTC at a quote (TTC at 100 KRW, less the 1 % spread: 9.9 TTC) and sees the TTC on
// the home page; an operator sets BTC's price on the console, and the member's prices
// list then shows BTC at that price.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, failureEvidence, launchBrowser, leaveEvidence, phone, screenshot, startServer } from "../lib/harness.js";
import { consoleLogIn, convertAssets, exchange, homeBalance, linkDemoPartner, setAssetPrice, signUp } from "../lib/journeys.js";

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

const PHONE = "01055508001";
// BTC's price as the demo seeds it (KRW per unit).
const DEMO_BTC = "143,250,000";

test("a member converts MVP to TTC at a quote; an operator sets BTC's price", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  failureEvidence(page, "assets");
  const consoleErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await signUp(page, server, PHONE, "Oh Jiwoo");
  await linkDemoPartner(page, "DA-8001");
  await exchange(page, 5000);
  assert.equal(await homeBalance(page, server), "5,000");
  assert.equal(await page.getByTestId("balance-TTC").count(), 0, "no TTC held yet");

  // The convert page, from home: the selects, the amount, the prices (the demo's, MVP
  // first).
  await page.getByRole("link", { name: "Convert", exact: true }).click();
  await page.waitForURL(/\/app\/convert$/);
  assert.equal(await page.getByTestId("price-MVP").textContent(), "1");
  assert.equal(await page.getByTestId("price-TTC").textContent(), "100");
  assert.equal(await page.getByTestId("price-BTC").textContent(), DEMO_BTC);
  const listed = await page.getByTestId("price").evaluateAll((lines) => lines.map((line) => line.dataset.asset));
  assert.deepEqual(listed.slice(0, 2), ["MVP", "TTC"]);
  await assertAccessible(page, "convert");

  // 1,000 MVP at 1 KRW, TTC at 100 KRW, less 1 %: 9.9 TTC.
  await convertAssets(page, server, "MVP", "TTC", "1000", async () => {
    assert.equal(await page.getByTestId("quote-from").textContent(), "1,000");
    assert.equal(await page.getByTestId("quote-to").textContent(), "9.9");
    assert.equal(await page.getByTestId("quote-from-price").textContent(), "1");
    assert.equal(await page.getByTestId("quote-to-price").textContent(), "100");
    assert.equal(await page.getByTestId("quote-spread").textContent(), "1.00%");
    const seconds = Number(await page.getByTestId("quote-seconds").textContent());
    assert.ok(seconds > 0 && seconds <= 30, "valid for " + seconds + " s");
    await screenshot(page, "18-convert-quote");
    await assertAccessible(page, "convert quote");
  });
  assert.equal(await page.getByTestId("converted-from").textContent(), "1,000");
  assert.equal(await page.getByTestId("converted-to").textContent(), "9.9");
  assert.equal(await page.getByTestId("new-balance-TTC").textContent(), "9.9");
  assert.equal(await page.getByTestId("new-balance-MVP").textContent(), "4,000");
  await assertAccessible(page, "converted");

  // Home: the MVP left and the TTC now held, with its places.
  assert.equal(await homeBalance(page, server), "4,000");
  assert.equal(await page.getByTestId("balance-TTC").textContent(), "9.9");

  // The operator sets BTC's price on the console.
  const desk = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-US" });
  const operator = await desk.newPage();
  failureEvidence(operator, "assets-console");
  await consoleLogIn(operator, server, "demo-operator");
  await operator.getByRole("link", { name: "Prices", exact: true }).click();
  await operator.waitForURL(/\/console\/prices$/);
  assert.equal(await operator.getByTestId("price-BTC").textContent(), DEMO_BTC);
  await assertAccessible(operator, "console prices");
  await setAssetPrice(operator, server, "BTC", "150000000.5");
  await operator.getByText("Price set.").waitFor();
  assert.equal(await operator.getByTestId("price-BTC").textContent(), "150,000,000.5");

  // The member's prices list now shows BTC at the operator's price.
  await page.goto(server.baseUrl + "/app/convert");
  assert.equal(await page.getByTestId("price-BTC").textContent(), "150,000,000.5");

  assert.deepEqual(consoleErrors, []);
  await desk.close();
  await context.close();
});
