// What every browser test shares: a real `mileverse serve --demo` on a free loopback port
// with a fresh data directory, Debian's Chromium driven by playwright-core, axe-core for
// accessibility, and screenshots under target/web-screenshots.
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const here = dirname(fileURLToPath(import.meta.url));
export const ROOT = resolve(here, "..", "..");
export const SCREENSHOTS = join(ROOT, "target", "web-screenshots");
/// How long the server may take to print its demo lines.
const START_TIMEOUT_MS = 60_000;

export const BINARY = process.env.MILEVERSE_BIN || join(ROOT, "target", "debug", "mileverse");
export const CHROMIUM = process.env.MILEVERSE_CHROMIUM || "/usr/bin/chromium";
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

/// Starts `serve --demo` and reads what it prints: the base URL, the till link, the
/// operator's login. Resolves once the demo is seeded.
export async function startServer() {
  const data = mkdtempSync(join(tmpdir(), "mileverse-e2e-"));
  const child = spawn(BINARY, ["serve", "--demo", "--data", data, "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  const facts = {};
  let printed = "";
  let errors = "";
  child.stderr.on("data", (chunk) => {
    errors += chunk;
  });
  await new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error("the server did not start:\n" + printed + errors)), START_TIMEOUT_MS);
    child.on("exit", (code) => reject(new Error("the server exited with " + code + ":\n" + printed + errors)));
    child.stdout.on("data", (chunk) => {
      printed += chunk;
      const listening = printed.match(/mileverse listening on (\S+)/);
      if (listening) facts.baseUrl = listening[1];
      const till = printed.match(/demo till page: (\S+)/);
      if (till) facts.tillUrl = till[1];
      facts.operators = {};
      for (const match of printed.matchAll(/^ {2}(demo-[a-z]+) \(([a-z]+)\): password (\S+), secret (\S+)$/gm)) {
        facts.operators[match[1]] = { role: match[2], password: match[3], secret: match[4] };
      }
      const portal = printed.match(/demo merchant portal: \S+; login (\S+), password (\S+)/);
      if (portal) facts.merchantUser = { login: portal[1], password: portal[2] };
      const partner = printed.match(/demo partner portal: \S+; login (\S+), password (\S+)/);
      if (partner) facts.partnerUser = { login: partner[1], password: partner[2] };
      const ready = facts.baseUrl && facts.tillUrl && facts.merchantUser && facts.partnerUser;
      if (ready && Object.keys(facts.operators).length === 4) {
        clearTimeout(timer);
        resolvePromise();
      }
    });
  });
  facts.printed = () => printed;
  facts.stop = async () => {
    child.kill("SIGTERM");
    await new Promise((done) => {
      if (child.exitCode !== null) return done();
      child.on("exit", done);
    });
    rmSync(data, { recursive: true, force: true });
  };
  return facts;
}

/// Chromium, headless, without the background traffic a closed network refuses.
export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
}

/// A phone-sized context in `locale`.
export async function phone(browser, locale = "en-US") {
  return browser.newContext({
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 1,
    locale,
    extraHTTPHeaders: { "Accept-Language": locale },
  });
}

/// Runs axe-core on the page (evaluated through the DevTools protocol, so the page's
/// Content-Security-Policy needs no exception) and fails on any violation.
export async function assertAccessible(page, name) {
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(() =>
    window.axe.run(document, { runOnly: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] }));
  const problems = result.violations.map(
    (violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(" ")).join(", ")})`);
  if (problems.length > 0) {
    throw new Error(`${name} has accessibility violations:\n` + problems.join("\n"));
  }
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, name + ".png"), fullPage: true });
}

/// Keeps the last page seen so that a failing test leaves a screenshot and the page's text
/// behind (target/web-screenshots/FAILED-<name>.png).
const watched = [];
export function failureEvidence(page, name) {
  watched.push({ page, name });
}

process.on("exit", () => {});
export async function leaveEvidence() {
  for (const { page, name } of watched) {
    if (page.isClosed()) continue;
    try {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, "FAILED-" + name + ".png"), fullPage: true });
      console.error("FAILED at " + page.url() + "\n" + (await page.locator("body").innerText()).slice(0, 2000));
    } catch (error) {
      console.error("no evidence: " + error.message);
    }
  }
}
