// Creator rewards in a real browser: an operator registers a content platform on the
// console's creator pools page (its key and secret shown once); the platform registers a
// member as a creator with a content through the signed media API; another member finds
// the creator on /app/creators and tips 1,000 MVP: 300 to the platform, 700 to the creator.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { assertAccessible, failureEvidence, launchBrowser, leaveEvidence, phone, screenshot, startServer } from "../lib/harness.js";
import { consoleLogIn, exchange, homeBalance, linkDemoPartner, signUp } from "../lib/journeys.js";

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

const CREATOR_PHONE = "01055510001";
const FAN_PHONE = "01055510002";

/// A signed request of the media API: HMAC-SHA256(secret, timestamp \n METHOD \n path \n body).
async function media(platform, method, path, body) {
  const text = JSON.stringify(body);
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac("sha256", platform.secret)
    .update(`${timestamp}\n${method}\n${path}\n${text}`)
    .digest("hex");
  const response = await fetch(server.baseUrl + path, {
    method,
    headers: {
      "content-type": "application/json",
      "x-mileverse-key": platform.key,
      "x-mileverse-timestamp": timestamp,
      "x-mileverse-signature": signature,
    },
    body: text,
  });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  return answer;
}

test("an operator registers a platform, which registers a creator; a member tips them 30:70", async () => {
  const desk = await browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-US" });
  const operator = await desk.newPage();
  failureEvidence(operator, "creators-console");
  await consoleLogIn(operator, server, "demo-operator");
  await operator.getByRole("link", { name: "Creator pools", exact: true }).click();
  await operator.waitForURL(/\/console\/creators$/);
  await operator.getByLabel("Name").fill("TongTube");
  await operator.getByRole("button", { name: "Register", exact: true }).click();
  const platform = {
    key: await operator.getByTestId("platform-key").textContent(),
    secret: await operator.getByTestId("platform-secret").textContent(),
  };
  assert.match(platform.key, /^media_[0-9a-f]{24}$/);
  assert.match(platform.secret, /^[0-9a-f]{64}$/);
  await assertAccessible(operator, "console creators");

  const creatorContext = await phone(browser);
  const creator = await creatorContext.newPage();
  failureEvidence(creator, "creators-creator");
  await signUp(creator, server, CREATOR_PHONE, "Park Jiwoo");
  assert.equal(await homeBalance(creator, server), "0");
  const registered = await media(platform, "PUT", "/media/v1/creators/park", { phone: CREATOR_PHONE, name: "Park sings" });
  await media(platform, "PUT", "/media/v1/contents/song-1", { creator_ref: "park", title: "Spring rain (live)" });

  const fanContext = await phone(browser);
  const fan = await fanContext.newPage();
  failureEvidence(fan, "creators-fan");
  const consoleErrors = [];
  fan.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await signUp(fan, server, FAN_PHONE, "Choi Fan");
  await linkDemoPartner(fan, "DA-9101");
  await exchange(fan, 5000);
  assert.equal(await homeBalance(fan, server), "5,000");

  // The fan finds the creator from home, searching by name.
  await fan.getByRole("link", { name: "Creators", exact: true }).click();
  await fan.waitForURL(/\/app\/creators$/);
  await fan.getByLabel("Search by name").fill("sings");
  await fan.getByRole("button", { name: "Search", exact: true }).click();
  await fan.waitForURL(/\/app\/creators\?q=sings$/);
  await assertAccessible(fan, "creators");
  await fan.locator(`[data-testid="creator"][data-creator="${registered.creator_id}"] a`).click();
  await fan.waitForURL(new RegExp("/app/creators/" + registered.creator_id + "$"));
  assert.equal(await fan.getByTestId("creator-name").textContent(), "Park sings");
  assert.equal(await fan.getByTestId("creator-platform").textContent(), "TongTube");
  assert.equal(await fan.getByTestId("content").count(), 1);
  await assertAccessible(fan, "creator");

  // A tip of 1,000 MVP: 300 to the platform, 700 to the creator.
  await fan.getByLabel("Amount (MVP)").fill("1000");
  await fan.getByLabel("Message (optional)").fill("Encore!");
  await fan.getByRole("button", { name: "Tip", exact: true }).click();
  await fan.waitForURL(new RegExp("/app/creators/" + registered.creator_id + "\\?tipped=1000$"));
  await fan.getByText("Tipped. Thank you! (1,000 MVP)").waitFor();
  await screenshot(fan, "35-creator-tipped");
  assert.equal(await homeBalance(fan, server), "4,000");
  assert.equal(await homeBalance(creator, server), "700");

  // Above the balance: refused on the page, nothing moves.
  await fan.goto(server.baseUrl + "/app/creators/" + registered.creator_id);
  await fan.getByLabel("Amount (MVP)").fill("5000");
  await fan.getByRole("button", { name: "Tip", exact: true }).click();
  await fan.getByText("The MVP balance is not enough").waitFor();
  assert.equal(await homeBalance(fan, server), "4,000");

  // The history names the tip.
  await fan.goto(server.baseUrl + "/app/history?reason=tip");
  await fan.locator("strong", { hasText: /^Tip$/ }).first().waitFor();
  assert.equal(await fan.locator("strong", { hasText: /^Tip$/ }).count(), 1);

  assert.deepEqual(consoleErrors, []);
  await desk.close();
  await creatorContext.close();
  await fanContext.close();
});
