// A newcomer's journey in a real browser: sign up with the SMS code, link the demo
// partner's membership through its login page (the ownership step), exchange mileage after
// seeing the quote, open the pay screen, pay at the till page, see "paid" and the new
// balance, and verify the payment's inclusion in the ledger in the page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, failureEvidence, launchBrowser, leaveEvidence, phone, screenshot, startServer } from "../lib/harness.js";
import { exchange, linkDemoPartner, signUp } from "../lib/journeys.js";

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

const PHONE = "01055501234";
const PIN = "246810";

test("sign up, link, exchange, pay at the till and verify the payment", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  const consoleErrors = [];
  failureEvidence(page, "member-journey");
  page.on("console", (message) => {
    if (message.type() === "error") consoleErrors.push(message.text());
  });

  await page.goto(server.baseUrl + "/app");
  await screenshot(page, "01-welcome");
  await assertAccessible(page, "welcome");
  await page.getByRole("link", { name: "Sign up" }).click();
  await page.getByLabel("Mobile phone number").fill(PHONE);
  await page.getByRole("button", { name: "Send the code" }).click();
  const code = await page.locator("#demo-code").textContent();
  assert.match(code, /^[0-9]{6}$/);
  await page.getByLabel("Verification code").fill(code);
  await page.getByLabel("Name").fill("Kim Minji");
  await page.getByLabel("PIN (6 digits)").fill(PIN);
  await assertAccessible(page, "sign-up code");
  await page.getByRole("button", { name: "Create my account" }).click();
  await page.waitForURL(server.baseUrl + "/app");
  assert.equal(await page.getByTestId("balance").textContent(), "0");

  // Link the demo partner's membership: the partner's own login page proves it.
  await page.getByRole("link", { name: "Memberships" }).click();
  await assertAccessible(page, "memberships");
  await page.getByLabel("Partner").selectOption({ label: "Demo Air" });
  await page.getByLabel("Membership number").fill("DA-1001");
  await page.getByRole("button", { name: "Continue at the partner" }).click();
  await page.getByLabel("Password").fill("partner-pass");
  await page.getByRole("button", { name: "Sign in and allow" }).click();
  await page.waitForURL(/\/app\?done=linked$/);
  await page.getByText("Membership linked.").waitFor();
  await screenshot(page, "02-home-linked");

  // Exchange: the quote first, then the confirmation.
  await page.getByRole("link", { name: "Memberships" }).click();
  await page.getByRole("link", { name: "Exchange" }).first().click();
  await page.getByLabel("Exchange mileage to MVP").fill("5000");
  await page.getByRole("button", { name: "See the amount" }).click();
  assert.equal(await page.getByTestId("quote-mvp").textContent(), "5,000");
  await screenshot(page, "03-exchange-quote");
  await assertAccessible(page, "exchange quote");
  await page.getByRole("button", { name: "Confirm the exchange" }).click();
  await page.waitForURL(/\/app\?done=exchanged$/);
  assert.equal(await page.getByTestId("balance").textContent(), "5,000");

  // The pay screen, and a till paid in another tab.
  await page.getByRole("link", { name: "Pay", exact: true }).first().click();
  const paycode = await page.getByTestId("paycode").getAttribute("data-code");
  assert.match(paycode, /^[0-9]{20}$/);
  await screenshot(page, "04-pay");
  await assertAccessible(page, "pay");

  const till = await context.newPage();
  await till.goto(server.tillUrl);
  await till.getByLabel("Scanned or typed code").fill(paycode);
  await till.getByLabel("Amount (MVP)").fill("1200");
  await till.getByRole("button", { name: "Charge" }).click();
  await till.getByText(/^Approved · 1200 MVP/).waitFor();
  await screenshot(till, "05-till-approved");
  await assertAccessible(till, "till");

  await page.locator("#paid").waitFor({ state: "visible", timeout: 10_000 });
  assert.equal(await page.locator("#paid-amount").textContent(), "1,200");
  assert.equal(await page.locator("#paid-balance").textContent(), "3,800");
  await screenshot(page, "06-paid");

  // The payment's inclusion, checked by the page's own cryptography.
  await page.getByRole("link", { name: "History" }).click();
  await page.getByRole("link", { name: "Verify" }).first().click();
  const status = page.locator("#verify-status");
  await page.waitForFunction(() => document.getElementById("verify-status").dataset.verified !== undefined);
  assert.equal(await status.getAttribute("data-verified"), "true", await status.textContent());
  await screenshot(page, "07-verified");
  await assertAccessible(page, "verify");

  assert.deepEqual(consoleErrors, []);
  await context.close();
});

test("a new browser proves the phone by SMS before the PIN opens the account", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  failureEvidence(page, "new-device");
  await page.goto(server.baseUrl + "/app/login");
  await page.getByLabel("Mobile phone number").fill(PHONE);
  await page.getByLabel("PIN (6 digits)").fill(PIN);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByText("This browser is new to your account").waitFor();
  const code = await page.locator("#demo-code").textContent();
  await page.getByLabel("Verification code").fill(code);
  await page.getByLabel("PIN (6 digits)").fill(PIN);
  await page.getByRole("button", { name: "Confirm" }).click();
  await page.waitForURL(server.baseUrl + "/app");
  assert.equal(await page.getByTestId("balance").textContent(), "3,800");
  // The browser is trusted from now on: the next login asks for the PIN only.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.goto(server.baseUrl + "/app/login");
  await page.getByLabel("Mobile phone number").fill(PHONE);
  await page.getByLabel("PIN (6 digits)").fill(PIN);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(server.baseUrl + "/app");
  // A wrong PIN is refused with the API's words, and nothing opens.
  await page.getByRole("button", { name: "Log out" }).click();
  await page.goto(server.baseUrl + "/app/login");
  await page.getByLabel("Mobile phone number").fill(PHONE);
  await page.getByLabel("PIN (6 digits)").fill("135790");
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("alert").waitFor();
  assert.match(await page.getByRole("alert").textContent(), /PIN/);
  await context.close();
});

test("a gift voucher is bought with MVP, shown for the till, and cancelled for a refund", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  failureEvidence(page, "vouchers");
  await signUp(page, server, "01055503333", "Park Jiwoo");
  await linkDemoPartner(page, "DA-3003");
  await exchange(page, 10000);
  await page.getByRole("link", { name: "Gift vouchers" }).click();
  await page.getByRole("button", { name: "Buy: Demo Cafe Americano" }).click();
  await page.getByTestId("voucher-status").waitFor();
  assert.equal(await page.getByTestId("voucher-status").textContent(), "active");
  assert.match(await page.getByTestId("voucher-code").getAttribute("data-code"), /^[0-9]{16}$/);
  await page.locator(".barcode svg").waitFor();
  await screenshot(page, "08-voucher");
  await assertAccessible(page, "voucher");
  await page.getByRole("button", { name: "Cancel and refund" }).click();
  await page.waitForFunction(() => document.querySelector("[data-testid=voucher-status]")?.textContent === "cancelled");
  await page.goto(server.baseUrl + "/app");
  assert.equal(await page.getByTestId("balance").textContent(), "10,000");
  await context.close();
});
