// Drive Debian's headless chromium through playwright-core for
// tests/bb/test_dashboard.py.  One command per stdin line, one JSON line per
// answer ({"ok": true|false, ...}); exits at EOF or "quit", closing the browser.
//
//   goto URL
//   wait-for-cards N TIMEOUT_S              at least N .card elements
//   wait-for-state REGION STATE TIMEOUT_S   .card[data-region=REGION] .state text
//   wait-for-conn TIMEOUT_S TEXT...         #conn text (TEXT may hold spaces)
//   wait-for-banner TIMEOUT_S TEXT...       #banner visible and containing TEXT
//   screenshot PATH W H                     viewport W x H, full-page PNG
//   check-no-hscroll W                      viewport width W: scrollWidth <= innerWidth
//   eval-file PATH W H                      viewport W x H, evaluate the function in PATH, return its value
//   info                                    cards, #conn, #banner, #log size, #drills
//   quit
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const readline = require('readline');
const { chromium } = require(path.join(__dirname, 'node_modules', 'playwright-core'));

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];

function out(o) { process.stdout.write(JSON.stringify(o) + '\n'); }

async function main() {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'regiond-chromium-'));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true, args: ARGS, viewport: { width: 1280, height: 900 }, timeout: 30000,
  });
  const page = ctx.pages()[0] || await ctx.newPage();
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push('pageerror: ' + e.message));
  let closed = false;
  async function close() {
    if (closed) return;
    closed = true;
    await ctx.close().catch(() => {});
    fs.rmSync(profile, { recursive: true, force: true });
  }
  out({ ok: true, ready: true, pid: process.pid, version: ctx.browser() ? ctx.browser().version() : null });

  const info = () => page.evaluate(() => {
    const q = (s) => document.querySelector(s);
    return {
      cards: [...document.querySelectorAll('.card')].map((c) => ({
        region: c.dataset.region, state: (c.querySelector('.state') || {}).textContent })),
      conn: q('#conn') && q('#conn').textContent,
      banner: q('#banner') && !q('#banner').hidden ? q('#banner').textContent : null,
      log: q('#log') ? q('#log').children.length : -1,
      log_types: q('#log') ? [...q('#log').children].slice(0, 30).map((li) => li.dataset.type) : [],
      drills_visible: !!(q('#drills') && !q('#drills').hidden),
      scroll_width: document.documentElement.scrollWidth, inner_width: window.innerWidth,
    };
  });

  const handlers = {
    async goto(url) {
      const r = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
      return { status: r ? r.status() : null };
    },
    async 'wait-for-cards'(n, t) {
      await page.waitForFunction((n) => document.querySelectorAll('.card').length >= n, Number(n),
        { timeout: Number(t) * 1000, polling: 100 });
      return info();
    },
    async 'wait-for-state'(region, state, t) {
      const t0 = Date.now();
      await page.waitForFunction(([r, s]) => {
        const c = [...document.querySelectorAll('.card')].find((x) => x.dataset.region === r);
        const e = c && c.querySelector('.state');
        return !!e && e.textContent.trim().toLowerCase() === s;
      }, [region, state], { timeout: Number(t) * 1000, polling: 100 });
      return { took_s: (Date.now() - t0) / 1000 };
    },
    async 'wait-for-conn'(t, ...text) {
      const want = text.join(' '), t0 = Date.now();
      await page.waitForFunction((w) => {
        const e = document.getElementById('conn');
        return !!e && e.textContent.trim() === w;
      }, want, { timeout: Number(t) * 1000, polling: 100 });
      return { took_s: (Date.now() - t0) / 1000 };
    },
    async 'wait-for-banner'(t, ...text) {
      const want = text.join(' '), t0 = Date.now();
      await page.waitForFunction((w) => {
        const e = document.getElementById('banner');
        return !!e && !e.hidden && e.textContent.includes(w);
      }, want, { timeout: Number(t) * 1000, polling: 100 });
      return { took_s: (Date.now() - t0) / 1000, banner: await page.textContent('#banner') };
    },
    async screenshot(p, w, h) {
      await page.setViewportSize({ width: Number(w), height: Number(h) });
      await page.waitForTimeout(300);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      await page.screenshot({ path: p, fullPage: true, timeout: 15000 });
      return { path: p, bytes: fs.statSync(p).size };
    },
    async 'check-no-hscroll'(w) {
      await page.setViewportSize({ width: Number(w), height: 900 });
      await page.waitForTimeout(300);
      const i = await info();
      return { scroll_width: i.scroll_width, inner_width: i.inner_width, no_hscroll: i.scroll_width <= i.inner_width };
    },
    async 'eval-file'(p, w, h) {
      await page.setViewportSize({ width: Number(w), height: Number(h) });
      await page.waitForTimeout(300);
      return { value: await page.evaluate('(' + fs.readFileSync(p, 'utf8') + ')()') };
    },
    async info() { return Object.assign(await info(), { console_errors: consoleErrors.slice(-20) }); },
  };

  const rl = readline.createInterface({ input: process.stdin });
  for await (const line of rl) {
    const [cmd, ...args] = line.trim().split(/\s+/);
    if (!cmd) continue;
    if (cmd === 'quit') break;
    const h = handlers[cmd];
    if (!h) { out({ ok: false, cmd, error: 'unknown command' }); continue; }
    try {
      out(Object.assign({ ok: true, cmd }, await h(...args)));
    } catch (e) {
      let state = null;
      try { state = await info(); } catch (x) { /* page gone */ }
      out({ ok: false, cmd, error: String(e && e.message || e).split('\n')[0], state });
    }
  }
  await close();
}

main().then(() => process.exit(0), (e) => { out({ ok: false, fatal: String(e && e.stack || e) }); process.exit(1); });
