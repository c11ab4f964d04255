// The operator console and the merchant portal in a real browser, each role as the API
// lets it: finance runs a settlement of a till payment, marks it paid and downloads it;
// the merchant sees the payment and the payout and downloads its settlement; support finds
// a member by phone and locks them, and is refused the finance pages; the dashboard draws
// its charts and verifies the ledger; finance reconciles a partner.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, failureEvidence, launchBrowser, leaveEvidence, phone, screenshot, startServer } from "../lib/harness.js";
import { consoleLogIn, exchange, linkDemoPartner, payAtTill, signUp } from "../lib/journeys.js";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // A member who exchanged and paid, for the console to see.
  const context = await phone(browser);
  const page = await context.newPage();
  await signUp(page, server, "01055502222", "Lee Seojun");
  await linkDemoPartner(page, "DA-2002");
  await exchange(page, 3000);
  await payAtTill(context, page, server, 1000);
  await context.close();
});

after(async () => {
  await leaveEvidence();
  await browser?.close();
  await server?.stop();
});

async function desk() {
  return browser.newContext({ viewport: { width: 1200, height: 900 }, locale: "en-US", acceptDownloads: true });
}

test("finance runs a settlement, marks it paid and downloads it", async () => {
  const context = await desk();
  const page = await context.newPage();
  failureEvidence(page, "console-finance");
  await consoleLogIn(page, server, "demo-finance");
  assert.equal(await page.getByTestId("role").textContent(), "finance");
  await page.getByRole("link", { name: "Settlements" }).click();
  await page.getByRole("button", { name: "Run a settlement up to now" }).click();
  await page.getByText("Settlement run made.").waitFor();
  await page.getByRole("cell", { name: "Demo Cafe" }).first().waitFor();
  assert.equal(await page.getByTestId("settlement-status").first().textContent(), "settled");
  await screenshot(page, "10-console-settlements");
  await assertAccessible(page, "console settlements");
  await page.getByRole("button", { name: "Mark paid" }).first().click();
  await page.waitForURL(server.baseUrl + "/console/settlements");
  assert.equal(await page.getByTestId("settlement-status").first().textContent(), "paid");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download CSV" }).click(),
  ]);
  const csv = await (await download.createReadStream()).toArray();
  const text = Buffer.concat(csv).toString("utf8");
  assert.match(text.split("\n")[0], /settlement_id/);
  assert.match(text, /,1000,/);
  // The till's payment, in the payments report.
  const [payments] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Payments, 30 days (CSV)" }).click(),
  ]);
  const report = Buffer.concat(await (await payments.createReadStream()).toArray()).toString("utf8");
  const line = report.trim().split("\r\n").find((row) => row.includes(",Demo Cafe,"));
  assert.ok(line, report);
  assert.match(line, /,captured,[0-9]{8},1000,1000,0,1000,0,/);
  // Finance reconciles Demo Air's last week with the partner's own record.
  await page.getByRole("link", { name: "Partners" }).click();
  const air = page.getByRole("row", { name: /Demo Air/ });
  await air.getByRole("button", { name: "Reconcile the last 7 days" }).click();
  await page.getByText("Reconciliation done.").waitFor();
  assert.match(await air.getByTestId("reconciled").textContent(), /1 \/ 1/);
  await assertAccessible(page, "console partners");
  await context.close();
});

test("the merchant sees the payment in its portal and downloads its settlement", async () => {
  const context = await desk();
  const page = await context.newPage();
  failureEvidence(page, "merchant-portal");
  await page.goto(server.baseUrl + "/merchant");
  await page.waitForURL(server.baseUrl + "/merchant/login");
  await page.getByLabel("Login").fill(server.merchantUser.login);
  await page.getByLabel("Password").fill(server.merchantUser.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(server.baseUrl + "/merchant");
  await page.getByRole("heading", { name: "Demo Cafe" }).waitFor();
  const captured = await page.locator("tbody tr").first().locator("td").nth(4).textContent();
  assert.equal(captured, "1,000");
  await screenshot(page, "12-merchant-payments");
  await assertAccessible(page, "merchant payments");
  await page.getByRole("link", { name: "Settlements" }).click();
  assert.equal(await page.getByTestId("settlement-status").first().textContent(), "paid");
  await assertAccessible(page, "merchant settlements");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download CSV" }).click(),
  ]);
  const text = Buffer.concat(await (await download.createReadStream()).toArray()).toString("utf8");
  const lines = text.trim().split("\r\n");
  assert.equal(lines[0].split(",")[5], "merchant_name");
  assert.match(lines[1], /,paid,/);
  assert.match(lines[1], /,Demo Cafe,1000,0,1000,25,975$/);
  // A new till's key, its secret shown once; then it is disabled.
  await page.getByRole("link", { name: "Terminals" }).click();
  const before = await page.locator("tr[data-terminal]").count();
  await page.getByRole("button", { name: "New terminal" }).click();
  await page.getByTestId("secret-warning").waitFor();
  assert.match(await page.getByTestId("terminal-secret").textContent(), /^[0-9a-f]{32,}$/);
  const keyId = await page.getByTestId("key-id").textContent();
  await assertAccessible(page, "merchant new terminal");
  await page.getByRole("link", { name: "Back to the terminals" }).click();
  assert.equal(await page.locator("tr[data-terminal]").count(), before + 1);
  const row = page.locator("tr[data-terminal]", { hasText: keyId });
  await row.getByRole("button", { name: "Disable" }).click();
  await page.locator("tr[data-terminal]", { hasText: keyId }).getByRole("button", { name: "Enable" }).waitFor();
  await assertAccessible(page, "merchant terminals");
  await context.close();
});

test("the partner sees what it owes and downloads its statement", async () => {
  const context = await desk();
  const page = await context.newPage();
  failureEvidence(page, "partner-portal");
  await page.goto(server.baseUrl + "/partner/login");
  await page.getByLabel("Login").fill(server.partnerUser.login);
  await page.getByLabel("Password").fill(server.partnerUser.password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(server.baseUrl + "/partner");
  await page.getByRole("heading", { name: "Demo Air" }).waitFor();
  assert.equal(await page.getByTestId("issued").textContent(), "3,000");
  assert.equal(await page.getByTestId("owes").textContent(), "3,000");
  // Finance's reconciliation of the week, as the partner sees it: 1 checked, 1 matched.
  const kept = await page.getByTestId("reconciliations").locator("tbody tr").first().locator("td").allTextContents();
  assert.deepEqual(kept.slice(2), ["1", "1", "0", "0"]);
  // Its exchanges, a page at a time.
  await page.getByRole("link", { name: "Exchanges" }).click();
  await page.getByRole("cell", { name: "DA-2002" }).first().waitFor();
  await assertAccessible(page, "partner exchanges");
  await page.getByRole("link", { name: "Home" }).click();
  await screenshot(page, "14-partner-portal");
  await assertAccessible(page, "partner portal");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download the statement (CSV)" }).click(),
  ]);
  const text = Buffer.concat(await (await download.createReadStream()).toArray()).toString("utf8");
  const lines = text.trim().split("\r\n");
  assert.equal(lines.length, 2, text);
  assert.match(lines[1], /,DA-2002,3000,1,1,3000,/);
  // A partner's session opens nothing of the merchant portal's API.
  const cookies = await context.cookies(server.baseUrl);
  const token = cookies.find((cookie) => cookie.name === "__Host-mv-partner").value;
  assert.equal(cookies.find((cookie) => cookie.name === "__Host-mv-partner").httpOnly, true);
  const refused = await context.request.get(server.baseUrl + "/merchant/v1/me", {
    headers: { Authorization: "Bearer " + token },
  });
  assert.equal(refused.status(), 403);
  assert.equal((await refused.json()).type, "urn:mileverse:problem:wrong-portal");
  await context.close();
});

test("support finds a member by phone and locks them, and is refused the finance pages", async () => {
  const context = await desk();
  const page = await context.newPage();
  failureEvidence(page, "console-support");
  await consoleLogIn(page, server, "demo-support");
  const sections = await page.locator("nav.sections a").allTextContents();
  assert.deepEqual(sections, ["Dashboard", "Members", "Partners", "Merchants", "Creator pools", "Disputes"]);
  await page.getByRole("link", { name: "Merchants" }).click();
  await page.getByRole("cell", { name: "Demo Cafe" }).first().waitFor();
  await assertAccessible(page, "console merchants");
  await page.getByRole("link", { name: "Terminals" }).first().click();
  await page.getByRole("cell", { name: "Active" }).first().waitFor();
  await page.getByRole("link", { name: "Partners", exact: true }).click();
  await page.getByRole("cell", { name: "Demo Air" }).waitFor();
  await assertAccessible(page, "console partners");
  const refused = await page.goto(server.baseUrl + "/console/settlements");
  assert.equal(refused.status(), 403);
  await page.getByText("Your role may not see this page.").waitFor();
  await page.goto(server.baseUrl + "/console/members");
  await page.getByLabel("Find a member by phone").fill("010-5550-2222");
  await page.getByRole("button", { name: "Find" }).click();
  await page.getByRole("heading", { name: "Lee Seojun" }).waitFor();
  // The member's history as they see it: the payment and the exchange.
  const history = await page.getByTestId("member-history").textContent();
  assert.match(history, /payment[\s\S]*−1,000/);
  assert.match(history, /exchange[\s\S]*\+3,000/);
  await assertAccessible(page, "console members");
  await page.getByRole("button", { name: "Lock" }).click();
  assert.match(await page.getByTestId("member-status").textContent(), /Locked/);
  await page.getByRole("button", { name: "Unlock" }).click();
  assert.doesNotMatch(await page.getByTestId("member-status").textContent(), /Locked/);
  await context.close();
});

test("an ad is shown to a member, and its click is counted and billed once", async () => {
  const member = await phone(browser);
  const page = await member.newPage();
  failureEvidence(page, "ads-member");
  await signUp(page, server, "01055504444", "Choi Yuna");
  const ad = page.getByTestId("ad-link");
  await ad.waitFor();
  await screenshot(page, "09-home-ad");
  await assertAccessible(page, "home with an ad");
  const href = await ad.getAttribute("href");
  await ad.click();
  await page.waitForURL(server.baseUrl + "/app/links");
  // The same view clicked again bills nothing more.
  await page.goto(server.baseUrl + href);
  await page.waitForURL(server.baseUrl + "/app/links");
  await member.close();

  const desk_ = await desk();
  const console_ = await desk_.newPage();
  failureEvidence(console_, "ads-console");
  await consoleLogIn(console_, server, "demo-auditor");
  await console_.getByRole("link", { name: "Ads" }).click();
  const row = console_.locator("tr[data-campaign]").first();
  const clicks = Number(await row.getByTestId("clicks").textContent());
  const impressions = Number((await row.getByTestId("impressions").textContent()).replace(/,/g, ""));
  const spent = Number((await row.getByTestId("spent").textContent()).replace(/,/g, ""));
  assert.equal(clicks, 1);
  assert.ok(impressions >= 1);
  assert.equal(spent, impressions * 1 + clicks * 50);
  // The auditor reads the report but may not create a campaign.
  assert.equal(await console_.getByRole("button", { name: "Create" }).count(), 0);
  await screenshot(console_, "13-console-ads");
  await assertAccessible(console_, "console ads");
  await desk_.close();
});

test("the operator's dashboard draws the partners' chart and the ledger's health", async () => {
  const context = await desk();
  const page = await context.newPage();
  failureEvidence(page, "console-operator");
  await consoleLogIn(page, server, "demo-operator");
  // Today's column holds the exchange's 3,000 MVP and the till's 1,000.
  assert.match(await page.getByTestId("exchanges-chart").textContent(), /: 3,000/);
  assert.match(await page.getByTestId("payments-chart").textContent(), /: 1,000/);
  assert.match(await page.getByTestId("top-partners").textContent(), /Demo Air/);
  assert.match(await page.getByTestId("top-merchants").textContent(), /Demo Cafe/);
  assert.equal(await page.getByTestId("outstanding").textContent(), "2,000");
  // The whole ledger verified from its first block, and the outcome kept.
  await page.getByRole("button", { name: "Verify the ledger now" }).click();
  await page.waitForURL(server.baseUrl + "/console");
  assert.match(await page.getByTestId("last-verify").textContent(), /^verified · /);
  await screenshot(page, "11-console-dashboard");
  await assertAccessible(page, "console dashboard");
  await page.getByRole("link", { name: "Audit log" }).click();
  await page.getByRole("cell", { name: /operator:demo-support/ }).first().waitFor();
  await context.close();
});
