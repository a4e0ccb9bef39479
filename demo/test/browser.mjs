// SPDX-License-Identifier: MPL-2.0
// Headless Chromium (Debian's, driven by playwright-core) opens the demo page while a stream is
// being published, and checks that it plays: video.currentTime advances by more than 2 s, hls.js
// reports no fatal error, and the stats panel says LIVE. Then it takes a screenshot.
//
//   node demo/test/browser.mjs PAGE_URL SCREENSHOT.png     (environment: CHROMIUM, TIMEOUT_MS)
//
// Run by tests/browser.rs, which starts the serve example and FFmpeg first. Exit status 0 = PASS.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const [url, screenshot] = process.argv.slice(2);
if (!url || !screenshot) {
  console.error("usage: node browser.mjs PAGE_URL SCREENSHOT.png");
  process.exit(2);
}
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
const timeoutMs = Number(process.env.TIMEOUT_MS || 40000);
const wanted = 2.5; // seconds of playback progress (more than 2 s)

const profile = mkdtempSync(join(tmpdir(), "demo-chromium-"));
const log = [];
let context;
let verdict = { pass: false, reason: "did not start" };
try {
  // A fresh profile each run (Playwright takes it as the persistent context's directory).
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    viewport: { width: 1200, height: 570 },
    headless: true,
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
  page.on("requestfailed", (r) => log.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`));
  await page.goto(url, { waitUntil: "load", timeout: 10000 });

  const deadline = Date.now() + timeoutMs;
  let first = null; // currentTime when playback was first seen
  let state;
  for (;;) {
    state = await page.evaluate(() => {
      const v = document.getElementById("video");
      return {
        currentTime: v.currentTime,
        paused: v.paused,
        readyState: v.readyState,
        videoWidth: v.videoWidth,
        status: document.getElementById("status").textContent,
        fatalErrors: window.demo.fatalErrors,
        playerStarts: window.demo.playerStarts,
      };
    });
    if (first === null && state.currentTime > 0) first = state.currentTime;
    const progress = first === null ? 0 : state.currentTime - first;
    if (state.fatalErrors.length) {
      verdict = { pass: false, reason: `hls.js fatal error: ${state.fatalErrors.join("; ")}` };
      break;
    }
    if (progress > wanted && state.status === "LIVE" && state.videoWidth > 0) {
      verdict = { pass: true, reason: `played ${progress.toFixed(1)} s of video, stats say LIVE` };
      break;
    }
    if (Date.now() > deadline) {
      verdict = {
        pass: false,
        reason: `after ${timeoutMs / 1000} s: ${progress.toFixed(1)} s played (want > ${wanted}), ` +
          `status "${state.status}", video ${state.videoWidth}px wide`,
      };
      break;
    }
    await page.waitForTimeout(250);
  }
  console.log(`browser state: ${JSON.stringify(state)}`);
  await page.screenshot({ path: screenshot });
  console.log(`screenshot: ${screenshot}`);
} catch (e) {
  verdict = { pass: false, reason: `${e.name}: ${e.message}` };
} finally {
  if (context) await context.close().catch(() => {});
  rmSync(profile, { recursive: true, force: true });
}

if (!verdict.pass) for (const line of log.slice(-30)) console.log(line);
console.log(`browser test: ${verdict.pass ? "PASS" : "FAIL"}: ${verdict.reason}`);
process.exit(verdict.pass ? 0 : 1);
