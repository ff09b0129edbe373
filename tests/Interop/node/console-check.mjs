// Browser check of the Trellis console, run by tests/Api.Tests/Console/ConsoleBrowserTests.cs:
//   node console-check.mjs <gateway base URL> <screenshot directory> <app name>
// Loads every page in Debian's chromium (headless), fails on console errors and on serious or critical axe-core
// violations, keeps a screenshot of each page, then prints "TRAFFIC" and waits for the live figures to move while the
// test drives traffic: the app's poke count on the Apps page, the error total on the Errors page and the total of the
// requests to console.echo on the Topics page.
// The last line is "RESULT <json>"; the exit code is 0 when everything held.
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = require('fs').readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const [base, shots, app] = process.argv.slice(2);
const pages = ['cluster', 'nodes', 'apps', 'flows', 'activities', 'devices', 'errors', 'topics'];
const problems = [];
const checked = [];
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.on('console', m => { if (m.type() === 'error') problems.push(`console error on ${page.url()}: ${m.text()}`); });
  page.on('pageerror', e => problems.push(`page error on ${page.url()}: ${e.message}`));
  page.on('response', r => { if (r.status() >= 400) problems.push(`${r.status()} for ${r.url()}`); });

  for (const name of pages) {
    await page.goto(`${base}/console/#${name}`, { waitUntil: 'load' });
    await page.waitForFunction(n => document.getElementById('page')?.dataset.page === n
      && document.getElementById('live')?.textContent.startsWith('Live'), name, { timeout: 30000 });
    await page.screenshot({ path: join(shots, `console-${name}.png`), fullPage: true });
    await page.addScriptTag({ content: axeSource });
    const result = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
    });
    const serious = result.filter(v => v.impact === 'serious' || v.impact === 'critical');
    for (const v of serious) {
      problems.push(`axe ${v.impact} on ${name}: ${v.id} (${v.help}, ${v.nodes} elements)`);
    }
    checked.push({ page: name, violations: result.length, serious: serious.length });
  }

  // Live: the page keeps its one event stream while only the hash changes.
  await page.goto(`${base}/console/#apps`, { waitUntil: 'load' });
  const pokes = () => page.evaluate(a => {
    for (const row of document.querySelectorAll('#page tbody tr')) {
      if (row.querySelector('th')?.textContent === a) {
        return Number(row.children[5].textContent);
      }
    }
    return null;
  }, app);
  await page.waitForFunction(() => document.getElementById('live')?.textContent.startsWith('Live'), null, { timeout: 30000 });
  const before = await pokes();
  console.log('TRAFFIC');
  const deadline = Date.now() + 60000;
  let after = before;
  while (Date.now() < deadline && (after === null || after === before)) {
    await page.waitForTimeout(250);
    after = await pokes();
  }
  if (after === null || after === before) {
    problems.push(`the Apps page never showed ${app}'s pokes change (first ${before}, last ${after})`);
  }
  await page.screenshot({ path: join(shots, 'console-apps-live.png'), fullPage: true });

  await page.evaluate(() => { location.hash = '#errors'; });
  try {
    await page.waitForFunction(() => Number(document.getElementById('error-total')?.textContent ?? 0) > 0, null, { timeout: 60000 });
  } catch {
    problems.push('the Errors page never showed a report from the error channel');
  }
  await page.screenshot({ path: join(shots, 'console-errors-live.png'), fullPage: true });

  // The requests the test sends through its node are handled by this gateway's bus: their topic gets a row with a
  // growing total and its percentiles.
  await page.evaluate(() => { location.hash = '#topics'; });
  const echoTotal = () => page.evaluate(() => {
    for (const row of document.querySelectorAll('#page tbody tr')) {
      if (row.querySelector('code')?.textContent === 'console.echo') {
        return Number(row.children[4].textContent);
      }
    }
    return 0;
  });
  let topicFirst = 0;
  let topicLast = 0;
  const topicDeadline = Date.now() + 60000;
  while (Date.now() < topicDeadline && (topicFirst === 0 || topicLast <= topicFirst)) {
    await page.waitForTimeout(250);
    const total = await echoTotal();
    if (topicFirst === 0) {
      topicFirst = total;
    }
    topicLast = total;
  }
  if (topicFirst === 0 || topicLast <= topicFirst) {
    problems.push(`the Topics page never showed console.echo's total grow (first ${topicFirst}, last ${topicLast})`);
  }
  await page.screenshot({ path: join(shots, 'console-topics-live.png'), fullPage: true });
  checked.push({ live: { app, before, after, topic: { first: topicFirst, last: topicLast } } });
} catch (e) {
  problems.push(`check failed: ${e.stack ?? e}`);
} finally {
  await browser.close();
}

console.log(`RESULT ${JSON.stringify({ ok: problems.length === 0, problems, checked })}`);
process.exit(problems.length === 0 ? 0 : 1);
