// Checkout in a real browser: a member buys a mug at the demo shop (/shop), pays it on
// Mileverse's pay page with the PIN, goes back to the shop and sees the order paid; then
// the till shows a QR payment, the member opens its pay link and pays, and the till says
// approved.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, failureEvidence, launchBrowser, leaveEvidence, phone, screenshot, startServer } from "../lib/harness.js";
import { PIN, exchange, homeBalance, linkDemoPartner, signUp } from "../lib/journeys.js";

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

const MEMBER_PHONE = "01055508001";

/// Approves the intent the member's page shows: the PIN, "Pay", and the page saying paid.
async function payOnCheckoutPage(page) {
  await page.getByLabel("PIN (6 digits)").fill(PIN);
  await page.getByRole("button", { name: "Pay", exact: true }).click();
  await page.waitForURL(/\/app\/checkout\/[0-9]+\?done=paid$/);
  await page.getByText("Paid.").waitFor();
  assert.equal(await page.getByTestId("checkout-status").getAttribute("data-status"), "succeeded");
  const approvalNo = await page.getByTestId("checkout-approval-no").textContent();
  assert.match(approvalNo, /^[0-9]{8}$/);
  return approvalNo;
}

test("a member buys a mug at the demo shop and a QR payment at the till", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  failureEvidence(page, "checkout-member");
  const consoleErrors = [];
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });
  await signUp(page, server, MEMBER_PHONE, "Lee Jiwoo");
  await linkDemoPartner(page, "DA-8001");
  await exchange(page, 30000);
  assert.equal(await homeBalance(page, server), "30,000");

  // The shop: three products; "Buy" on the mug leads to Mileverse's pay page.
  await page.goto(server.baseUrl + "/shop");
  assert.equal(await page.locator("[data-product]").count(), 3);
  const mug = page.locator('[data-product="mug"]');
  assert.equal(await mug.getByTestId("product-price").textContent(), "12,000");
  await screenshot(page, "30-shop");
  await assertAccessible(page, "shop");
  await mug.getByRole("button").click();
  await page.waitForURL(/\/app\/checkout\/[0-9]+$/);
  assert.equal(await page.getByTestId("checkout-merchant").textContent(), "TongTong Demo Shop");
  assert.equal(await page.getByTestId("checkout-amount").textContent(), "12,000");
  assert.equal(await page.getByTestId("checkout-description").textContent(), "Mug");
  assert.equal(await page.getByTestId("checkout-status").getAttribute("data-status"), "requires_approval");
  await screenshot(page, "31-checkout");
  await assertAccessible(page, "checkout");

  // Paid: the approval number, then back to the shop, whose order page says paid.
  const approvalNo = await payOnCheckoutPage(page);
  assert.equal(await page.getByRole("button", { name: "Pay", exact: true }).count(), 0);
  await assertAccessible(page, "checkout paid");
  await page.getByRole("link", { name: "Back to the shop" }).click();
  await page.waitForURL(/\/shop\/orders\/shop-[0-9a-f]{24}$/);
  assert.equal(await page.getByTestId("order-status").getAttribute("data-status"), "succeeded");
  assert.equal(await page.getByTestId("order-status").textContent(), "Paid, thank you!");
  assert.equal(await page.getByTestId("order-approval-no").textContent(), approvalNo);
  assert.equal(await page.getByTestId("order-amount").textContent(), "12,000");
  await screenshot(page, "32-shop-order-paid");
  await assertAccessible(page, "shop order");
  assert.equal(await homeBalance(page, server), "18,000");

  // The till's QR payment: the QR code and the pay link; the member pays from the link.
  const till = await context.newPage();
  failureEvidence(till, "checkout-till");
  till.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push("till: " + message.text());
  });
  await till.goto(server.tillUrl);
  await till.getByLabel("Amount to charge by QR, in MVP").fill("5000");
  await till.getByRole("button", { name: "Show a QR code" }).click();
  const payUrl = till.getByTestId("qr-pay-url");
  await payUrl.filter({ hasText: /\/app\/checkout\/[0-9]+$/ }).waitFor();
  const link = await payUrl.textContent();
  assert.ok(link.startsWith(server.baseUrl + "/app/checkout/"), link);
  const intentId = link.split("/").pop();
  assert.equal(await till.locator("#qr-image").getAttribute("src"), "/v1/checkout/intents/" + intentId + "/qr.svg");
  const qr = await context.request.get(server.baseUrl + "/v1/checkout/intents/" + intentId + "/qr.svg");
  assert.equal(qr.status(), 200);
  assert.match(qr.headers()["content-type"], /^image\/svg\+xml/);
  await screenshot(till, "33-till-qr");
  await assertAccessible(till, "till qr");

  await page.goto(link);
  assert.equal(await page.getByTestId("checkout-amount").textContent(), "5,000");
  assert.equal(await page.getByTestId("checkout-merchant").textContent(), "Demo Cafe");
  const tillApproval = await payOnCheckoutPage(page);
  await till.locator('#qr-result[data-status="approved"]').waitFor({ timeout: 10_000 });
  assert.equal(await till.locator("#qr-result").textContent(), "Approved · 5000 MVP · " + tillApproval);
  await screenshot(till, "34-till-qr-approved");
  assert.equal(await homeBalance(page, server), "13,000");

  assert.deepEqual(consoleErrors, []);
  await context.close();
});

test("without a session the pay page leads to the login and back", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  failureEvidence(page, "checkout-login");
  await page.goto(server.baseUrl + "/shop");
  await page.locator('[data-product="tumbler"]').getByRole("button").click();
  await page.waitForURL(/\/app\/login\?next=%2Fapp%2Fcheckout%2F[0-9]+$/);
  await context.close();
});
