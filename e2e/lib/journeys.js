// Steps of a member's journey that several tests take, each through the pages as a person
// would.
import assert from "node:assert/strict";

export const PIN = "246810";

/// Signs a new member up with the demo's SMS outbox code; ends on the home page.
export async function signUp(page, server, phoneNumber, name = "Kim Minji") {
  await page.goto(server.baseUrl + "/app/sign-up");
  await page.getByLabel("Mobile phone number").fill(phoneNumber);
  await page.getByRole("button", { name: "Send the code" }).click();
  const code = await page.locator("#demo-code").textContent();
  assert.match(code, /^[0-9]{6}$/);
  await page.getByLabel("Verification code").fill(code);
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("PIN (6 digits)").fill(PIN);
  await page.getByRole("button", { name: "Create my account" }).click();
  await page.waitForURL(server.baseUrl + "/app");
}

/// Links the demo partner's membership `memberRef`, proving it at the partner's login page.
export async function linkDemoPartner(page, memberRef) {
  await page.getByRole("link", { name: "Memberships" }).click();
  await page.waitForURL(/\/app\/links$/);
  await page.getByLabel("Partner").selectOption({ label: "Demo Air" });
  await page.getByLabel("Membership number").fill(memberRef);
  await page.getByRole("button", { name: "Continue at the partner" }).click();
  await page.getByLabel("Password").fill("partner-pass");
  await page.getByRole("button", { name: "Sign in and allow" }).click();
  await page.waitForURL(/\/app\?done=linked$/);
}

/// Exchanges `mileage` of the first membership after reading the quote.
export async function exchange(page, mileage) {
  await page.getByRole("link", { name: "Memberships" }).click();
  await page.waitForURL(/\/app\/links$/);
  await page.getByRole("link", { name: "Exchange" }).first().click();
  await page.getByLabel("Exchange mileage to MVP").fill(String(mileage));
  await page.getByRole("button", { name: "See the amount" }).click();
  await page.getByTestId("quote-mvp").waitFor();
  await page.getByRole("button", { name: "Confirm the exchange" }).click();
  await page.waitForURL(/\/app\?done=exchanged$/);
}

/// Opens the pay screen, charges `amount` at the demo till in a new tab, and waits for the
/// pay screen to say "paid". Answers the till's page.
export async function payAtTill(context, page, server, amount) {
  await page.goto(server.baseUrl + "/app/pay");
  const paycode = await page.getByTestId("paycode").getAttribute("data-code");
  assert.match(paycode, /^[0-9]{20}$/);
  const till = await context.newPage();
  await till.goto(server.tillUrl);
  await till.getByLabel("Scanned or typed code").fill(paycode);
  await till.getByLabel("Amount (MVP)").fill(String(amount));
  await till.getByRole("button", { name: "Charge" }).click();
  await till.getByText(new RegExp("^Approved · " + amount + " MVP")).waitFor();
  await page.locator("#paid").waitFor({ state: "visible", timeout: 10_000 });
  return till;
}

/// Logs `login` into the console with its printed password and the code the demo's login
/// page shows.
export async function consoleLogIn(page, server, login) {
  const operator = server.operators[login];
  assert.ok(operator, "the demo printed " + login);
  await page.goto(server.baseUrl + "/console/login");
  const code = await page.locator(`[data-login="${login}"]`).textContent();
  await page.getByLabel("Login").fill(login);
  await page.getByLabel("Password").fill(operator.password);
  await page.getByLabel("Authenticator code").fill(code);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(server.baseUrl + "/console");
}

/// The MVP available, as the home page shows it (ends on the home page).
export async function homeBalance(page, server) {
  await page.goto(server.baseUrl + "/app");
  return page.getByTestId("balance").textContent();
}

/// Sends `amount` MVP with `memo` to `phoneNumber` through /app/send: the form, "Next", the
/// confirm page (left for the caller to check when `beforeSend` is given), "Send". Ends on
/// the transfer's page.
export async function sendMvp(page, server, phoneNumber, amount, memo, beforeSend = async () => {}) {
  await page.goto(server.baseUrl + "/app");
  await page.getByRole("link", { name: "Send", exact: true }).click();
  await page.waitForURL(/\/app\/send$/);
  await page.getByLabel("Recipient's mobile phone number").fill(phoneNumber);
  await page.getByLabel("Amount to send (MVP)").fill(String(amount));
  await page.getByLabel("Memo (optional, up to 100 characters)").fill(memo);
  await page.getByRole("button", { name: "Next" }).click();
  await page.getByTestId("send-amount").waitFor();
  await beforeSend();
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.waitForURL(/\/app\/transfers\/[0-9]+\?done=sent$/);
}

/// Converts `amount` (whole units, as typed) of `from` into `to` through /app/convert: the
/// form, "Get a quote", the quote (left for the caller to check when `beforeConvert` is
/// given), "Convert". Ends on the result page with the new balances.
export async function convertAssets(page, server, from, to, amount, beforeConvert = async () => {}) {
  if (!page.url().endsWith("/app/convert")) await page.goto(server.baseUrl + "/app/convert");
  await page.getByLabel("Asset you give").selectOption(from);
  await page.getByLabel("Asset you get").selectOption(to);
  await page.getByLabel("Amount you give, in whole units").fill(String(amount));
  await page.getByRole("button", { name: "Get a quote" }).click();
  await page.getByTestId("quote-to").waitFor();
  await beforeConvert();
  await page.getByRole("button", { name: "Convert", exact: true }).click();
  await page.getByText("Converted.").waitFor();
}

/// Sets `asset`'s price in KRW per unit on the console's prices page (an operator signed
/// in with `conversions.write`). Ends on the prices page, saying the price was set.
export async function setAssetPrice(page, server, asset, krwPerUnit) {
  await page.goto(server.baseUrl + "/console/prices");
  await page.getByLabel(asset + ": new price (KRW per unit)").fill(String(krwPerUnit));
  await page.getByRole("button", { name: "Set the price (" + asset + ")" }).click();
  await page.waitForURL(/\/console\/prices\?done=price$/);
}
