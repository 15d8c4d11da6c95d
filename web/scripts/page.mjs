#!/usr/bin/env node
// Drives the demo page in headless Chromium for tests and benchmarks:
//   node web/scripts/page.mjs --url URL [--seconds N] [--eval JS] [--after SECS --eval-after JS]...
//                             [--init JS] [--pages K] [--chromium PATH]
// --init runs before the page's own scripts (e.g. to take a codec away from the browser).
// Prints one JSON line: { reports: [livestageReport() of each page], cpu_percent, console_errors }.
import { chromium } from 'playwright-core';
import { readFileSync, readdirSync } from 'node:fs';
import { execSync } from 'node:child_process';

function usage(msg) {
  process.stderr.write(`page.mjs: ${msg}\nusage: node page.mjs --url URL [--seconds N] [--eval JS] [--after SECS --eval-after JS]... [--pages K]\n`);
  process.exit(2);
}

const opts = { url: null, seconds: 6, evals: [], after: [], init: [], pages: 1, chromium: process.env.CHROMIUM ?? '/usr/bin/chromium' };
const argv = process.argv.slice(2);
let pendingAfter = null;
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const next = () => {
    if (i + 1 >= argv.length) usage(`${a} needs a value`);
    return argv[++i];
  };
  switch (a) {
    case '--url': opts.url = next(); break;
    case '--seconds': opts.seconds = Number(next()); break;
    case '--eval': opts.evals.push(next()); break;
    case '--init': opts.init.push(next()); break;
    case '--after': pendingAfter = Number(next()); break;
    case '--eval-after':
      if (pendingAfter === null || !Number.isFinite(pendingAfter)) usage('--eval-after needs a --after SECS before it');
      opts.after.push({ at: pendingAfter, js: next() });
      pendingAfter = null;
      break;
    case '--pages': opts.pages = Math.max(1, Number(next()) | 0); break;
    case '--chromium': opts.chromium = next(); break;
    case '-h': case '--help': usage('help');
    default: usage(`unknown argument ${a}`);
  }
}
if (!opts.url) usage('--url is required');
if (!Number.isFinite(opts.seconds) || opts.seconds < 0) usage('--seconds must be a number');

const TICK = (() => {
  try { return Number(execSync('getconf CLK_TCK').toString().trim()) || 100; } catch { return 100; }
})();

/** utime+stime (clock ticks) of the descendants of `root` (not root itself). */
function treeTicks(root) {
  const stats = new Map();
  const children = new Map();
  let names = [];
  try { names = readdirSync('/proc'); } catch { return 0; }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = readFileSync(`/proc/${name}/stat`, 'utf8');
      const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      const ticks = Number(rest[11]) + Number(rest[12]);
      stats.set(Number(name), ticks);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(name));
    } catch { /* gone */ }
  }
  let total = -(stats.get(root) ?? 0);
  const stack = [root];
  while (stack.length) {
    const pid = stack.pop();
    total += stats.get(pid) ?? 0;
    for (const c of children.get(pid) ?? []) stack.push(c);
  }
  return total;
}

const consoleErrors = [];
let browser;
try {
  browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
      '--use-fake-device-for-media-stream', '--use-fake-ui-for-media-stream', '--autoplay-policy=no-user-gesture-required'],
  });
} catch (e) {
  process.stderr.write(`page.mjs: cannot start Chromium (${opts.chromium}): ${e.message}\n`);
  process.exit(3);
}
// Chromium and its helpers are this process's descendants.
const browserPid = process.pid;
const ticks0 = browserPid ? treeTicks(browserPid) : 0;
const t0 = process.hrtime.bigint();

const pages = [];
try {
  const context = await browser.newContext();
  for (const js of opts.init) await context.addInitScript(js);
  for (let k = 0; k < opts.pages; k++) {
    const page = await context.newPage();
    const tag = opts.pages > 1 ? `[page ${k}] ` : '';
    page.on('console', (m) => {
      if (m.type() === 'error') {
        consoleErrors.push(`${tag}${m.text()}`);
        process.stderr.write(`${tag}console error: ${m.text()}\n`);
      } else if (process.env.PAGE_VERBOSE) {
        process.stderr.write(`${tag}console ${m.type()}: ${m.text()}\n`);
      }
    });
    page.on('pageerror', (e) => {
      consoleErrors.push(`${tag}${e.message}`);
      process.stderr.write(`${tag}page error: ${e.message}\n`);
    });
    const res = await page.goto(opts.url, { waitUntil: 'load', timeout: 15_000 });
    if (!res || !res.ok()) throw new Error(`${opts.url} answered ${res ? res.status() : 'nothing'}`);
    await page.waitForFunction(() => typeof window.livestageReport === 'function', null, { timeout: 10_000 });
    pages.push(page);
  }
} catch (e) {
  process.stderr.write(`page.mjs: the page did not load: ${e.message}\n`);
  await browser.close().catch(() => {});
  process.exit(4);
}

const run = (page, js) =>
  page.evaluate(async (code) => {
    try {
      await (0, eval)(code);
      return null;
    } catch (e) {
      return `${e?.code ? e.code + ': ' : ''}${e?.message ?? e}`;
    }
  }, js).then((err) => {
    if (err) {
      consoleErrors.push(`eval failed: ${err}`);
      process.stderr.write(`eval failed: ${js}: ${err}\n`);
    }
  }, (e) => process.stderr.write(`eval failed: ${js}: ${e.message}\n`));

const started = Date.now();
const jobs = [];
for (const js of opts.evals) for (const p of pages) jobs.push(run(p, js));
for (const { at, js } of opts.after) {
  jobs.push(new Promise((r) => setTimeout(r, Math.max(0, started + at * 1000 - Date.now())))
    .then(() => Promise.all(pages.map((p) => run(p, js)))));
}
await new Promise((r) => setTimeout(r, opts.seconds * 1000));
await Promise.race([Promise.all(jobs), new Promise((r) => setTimeout(r, 2000))]);

const reports = [];
for (const p of pages) {
  reports.push(await p.evaluate(() => window.livestageReport()).catch((e) => ({ joined: false, error: { code: 'page_error', message: e.message } })));
}
const ticks1 = browserPid ? treeTicks(browserPid) : 0;
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = browserPid ? Math.round(((ticks1 - ticks0) / TICK / secs) * 1000) / 10 : null;
for (const p of pages) await p.evaluate(() => window.livestage?.leave()).catch(() => {});
process.stdout.write(JSON.stringify({ reports, cpu_percent: cpu, console_errors: consoleErrors }) + '\n');
await browser.close().catch(() => {});
process.exit(0);
