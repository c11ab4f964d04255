// What protects the pages in a real browser: a form posted without its CSRF token is
// refused and changes nothing, and the pages speak Korean to a Korean browser.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { assertAccessible, launchBrowser, phone, startServer } from "../lib/harness.js";

let server;
let browser;

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a form without its CSRF token is refused", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  await page.goto(server.baseUrl + "/app/sign-up");
  const token = await page.locator("input[name=csrf]").first().inputValue();
  assert.match(token, /^[0-9a-f]{64}$/);
  // The browser's own cookies go with these requests, as with any forged form.
  const missing = await context.request.post(server.baseUrl + "/app/sign-up/phone", {
    form: { phone: "01077770000" },
    maxRedirects: 0,
  });
  assert.equal(missing.status(), 403);
  const wrong = await context.request.post(server.baseUrl + "/app/sign-up/phone", {
    form: { phone: "01077770000", csrf: "0".repeat(64) },
    maxRedirects: 0,
  });
  assert.equal(wrong.status(), 403);
  // The same form with its token is taken (the code is sent).
  const right = await context.request.post(server.baseUrl + "/app/sign-up/phone", {
    form: { phone: "01077770000", csrf: token },
    maxRedirects: 0,
  });
  assert.equal(right.status(), 200);
  assert.match(await right.text(), /name="verification_id" value="[0-9]+"/);
  await context.close();
});

test("a Korean browser gets Korean pages, and the switch changes it", async () => {
  const context = await phone(browser, "ko-KR");
  const page = await context.newPage();
  await page.goto(server.baseUrl + "/app");
  assert.equal(await page.getAttribute("html", "lang"), "ko");
  await page.getByRole("link", { name: "가입하기" }).waitFor();
  await assertAccessible(page, "welcome (ko)");
  await page.getByRole("link", { name: "English" }).click();
  assert.equal(await page.getAttribute("html", "lang"), "en");
  await page.getByRole("link", { name: "Sign up" }).waitFor();
  // From another area, the switch leads back to that area's home; never elsewhere.
  await page.goto(server.baseUrl + "/till");
  await page.getByRole("link", { name: "한국어" }).click();
  await page.waitForURL(server.baseUrl + "/till");
  assert.equal(await page.getAttribute("html", "lang"), "ko");
  await page.goto(server.baseUrl + "/app/lang/en?back=https://evil.example/");
  assert.equal(page.url(), server.baseUrl + "/app");
  await context.close();
});

test("the member app installs a service worker and shows its offline page without a network", async () => {
  const context = await phone(browser);
  const page = await context.newPage();
  await page.goto(server.baseUrl + "/app");
  const manifest = await page.getAttribute("link[rel=manifest]", "href");
  const answer = await context.request.get(server.baseUrl + manifest);
  assert.equal((await answer.json()).start_url, "/app");
  await page.waitForFunction(() => navigator.serviceWorker.ready.then(() => true), null, {
    timeout: 10_000,
  });
  await context.setOffline(true);
  await page.goto(server.baseUrl + "/app/history").catch(() => {});
  await page.getByText("You are offline.").waitFor({ timeout: 10_000 });
  await context.setOffline(false);
  await context.close();
});
