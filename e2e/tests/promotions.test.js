// Promotions in a real browser: an operator makes a 1 % trading reward on the console's
// promotions page and funds it; a member converts 1,000 MVP into TTC and gets 10 MVP back,
// named in their history; the console then shows what the promotion granted and has left.
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

const NAME = "TTC week 1 %";

test("a trading reward made and funded on the console pays on a conversion in the app", async () => {
  const desk = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-US" });
  const operator = await desk.newPage();
  failureEvidence(operator, "promotions-console");
  await consoleLogIn(operator, server, "demo-operator");
  await operator.getByRole("link", { name: "Promotions", exact: true }).click();
  await operator.waitForURL(/\/console\/promotions$/);
  await operator.getByLabel("Name").fill(NAME);
  await operator.getByLabel("Rule").selectOption("trading_reward");
  await operator.getByLabel("Rate in bps, or MVP per wallet").fill("100");
  await operator.getByRole("button", { name: "Create" }).click();
  await operator.waitForURL(/\/console\/promotions\?done=1$/);
  const row = operator.locator('[data-testid="promotion"]').filter({ hasText: NAME });
  assert.match(await row.textContent(), /trading reward 100 bps/);
  await row.getByLabel("Fund (MVP)").fill("5000");
  await row.getByLabel("Reference").fill("marketing-e2e-1");
  await row.getByRole("button", { name: "Fund" }).click();
  await operator.waitForURL(/\/console\/promotions\?done=1$/);
  const funded = operator.locator('[data-testid="promotion"]').filter({ hasText: NAME });
  assert.equal(await funded.getByTestId("remaining").textContent(), "5,000");
  await assertAccessible(operator, "console promotions");

  const context = await phone(browser);
  const member = await context.newPage();
  failureEvidence(member, "promotions-member");
  await signUp(member, server, "01055507001", "Han Jiwoo");
  await linkDemoPartner(member, "DA-7001");
  await exchange(member, 5000);
  await convertAssets(member, server, "MVP", "TTC", "1000");
  // 5,000 − 1,000 converted + 10 back (1 % of the MVP side).
  assert.equal(await homeBalance(member, server), "4,010");
  await member.goto(server.baseUrl + "/app/history?reason=trading_reward");
  const lines = member.locator("ul.lines li");
  assert.equal(await lines.count(), 1);
  assert.match(await lines.first().textContent(), /Trading reward[\s\S]*\+10/);
  await screenshot(member, "22-trading-reward");

  await operator.reload();
  const after = operator.locator('[data-testid="promotion"]').filter({ hasText: NAME });
  assert.equal(await after.getByTestId("granted").textContent(), "10");
  assert.equal(await after.getByTestId("remaining").textContent(), "4,990");
  // Closed pages leave no evidence behind (the harness keeps it of a failed test's).
  await desk.close();
  await context.close();
});
