// A browser suite's shared parts: the repository served on loopback, the
// reference server and headless Chromium, started before the file's tests
// and stopped after them.
import { before, after } from 'node:test';
import { serveRepo, launchChromium } from './browser.mjs';
import { startServer } from './server.mjs';

/** `{site, server, browser}`, filled in before the first test runs. */
export function browserSuite(serverArgs = []) {
  const suite = {};
  before(async () => {
    [suite.site, suite.server, suite.browser] = await Promise.all([serveRepo(), startServer(serverArgs), launchChromium()]);
  });
  after(async () => {
    await suite.browser?.close();
    await suite.server?.stop();
    suite.site?.close();
  });
  return suite;
}

/** A fresh context's page on the test fixture, with a CDP session to it. */
export async function fixturePage({ browser, site }) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${site.origin}/tests/js/fixtures/page.html`);
  const cdp = await context.newCDPSession(page);
  return { context, page, cdp };
}
