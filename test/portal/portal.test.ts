// The web portal in a real browser (Debian's chromium, driven by playwright-core): sign in, filter
// calls, open a detail with its other legs, download the filtered CSV, draw the traffic charts,
// create an export, watch it complete and download it. Screenshots go to test-results/.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { GREGORIAN_OFFSET } from '../../src/formats/kazoo.js';
import { CHROMIUM, hasBrowser, launchBrowser } from '../helpers/browser.js';
import { createTestDatabase } from '../helpers/db.js';
import { startServer, waitFor } from '../helpers/server.js';

const SHOTS = path.resolve('test-results');
const TIMEZONE = 'America/New_York';
// `.ci/run` installs chromium and sets CDREX_REQUIRE_BROWSER, so there a missing browser fails.
const skip =
  !hasBrowser() && process.env.CDREX_REQUIRE_BROWSER !== '1'
    ? `no browser at ${CHROMIUM} (apt-get install -y chromium)`
    : false;

const server = await startServer(await createTestDatabase());
const alice = await server.newAccount('alice');

// 60 calls, one every 5 minutes back from 2.5 minutes ago: 12 of them in the last hour.
const seededAt = Date.now();
const calls = Array.from({ length: 60 }, (_, i) => {
  const endUnix = Math.floor((seededAt - (i * 300 + 150) * 1000) / 1000);
  const busy = i % 3 === 0;
  return {
    i,
    endUnix,
    doc: {
      call_id: `portal-${i}`,
      timestamp: endUnix + GREGORIAN_OFFSET,
      duration_seconds: busy ? 5 : 60 + i,
      billing_seconds: busy ? 0 : 60 + i,
      direction: i % 2 === 0 ? 'inbound' : 'outbound',
      caller_id_number: `1415555${String(i).padStart(4, '0')}`,
      callee_id_number: `4420376900${String(i).padStart(2, '0')}`,
      hangup_cause: busy ? 'USER_BUSY' : 'NORMAL_CLEARING',
      sip_network_ip: `198.51.100.${i}`,
      cost: busy ? '0' : '0.0125',
      custom_channel_vars: { resource_id: i % 4 === 0 ? 'carrier-a' : 'carrier-b' },
      // The two newest calls are two legs of one interaction.
      ...(i < 2 ? { interaction_id: 'portal-interaction' } : {}),
    },
  };
});
const lastHour = calls.filter((c) => c.endUnix * 1000 > seededAt - 3600_000);

let browser: Browser;
let page: Page;

async function shot(name: string, fullPage = true) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `portal-${name}.png`), fullPage });
}
const rowCount = () => page.locator('table.calls tbody tr').count();

describe('web portal', { skip }, () => {
  before(async () => {
    const res = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs`, {
      method: 'PUT',
      headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: calls.map((c) => c.doc) }),
    });
    assert.equal(res.status, 201, await res.text());
    browser = await launchBrowser();
    const context = await browser.newContext({
      timezoneId: TIMEZONE,
      viewport: { width: 1280, height: 860 },
      acceptDownloads: true,
    });
    page = await context.newPage();
  });
  after(async () => {
    await browser?.close();
  });

  test('the portal is served at / with long-lived caching for hashed assets only', async () => {
    const index = await fetch(`${server.base}/`);
    assert.equal(index.status, 200);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    const html = await index.text();
    const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
    assert.ok(asset, 'index.html references a hashed script');
    const script = await fetch(`${server.base}${asset}`);
    assert.equal(script.status, 200);
    assert.equal(script.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.doesNotMatch(html, /https?:\/\//, 'nothing is loaded from another origin');
  });

  test('signing in with a wrong key says so; the right key opens the Calls page', async () => {
    await page.goto(server.base);
    await page.getByLabel('API key').fill('not-a-key');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    await page.getByLabel('API key').fill(alice.api_key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Calls' }).waitFor();
    const stored = await page.evaluate(() => sessionStorage.getItem('cdrex.session'));
    assert.equal(JSON.parse(stored!).accountId, alice.account_id);
  });

  test('calls of the last hour, newest first, with times in the browser time zone and UTC on hover', async () => {
    await page.getByRole('radio', { name: 'Last hour' }).click();
    await waitFor(async () => (await rowCount()) === lastHour.length, `${lastHour.length} rows`);
    const first = page.locator('table.calls tbody tr').first();
    assert.equal(await first.getAttribute('data-id'), expectedId(calls[0]));
    const time = first.locator('time');
    // The call's start, as Kazoo prints it: its end (the uploaded timestamp) minus its duration.
    const started = new Date((calls[0].endUnix - calls[0].doc.duration_seconds) * 1000);
    const iso = started.toISOString();
    assert.equal(await time.getAttribute('datetime'), iso.replace(/\.\d+Z$/, '.000Z'));
    assert.equal(await time.getAttribute('title'), `${iso.slice(0, 19).replace('T', ' ')} UTC`);
    const local = started.toLocaleTimeString('en-US', {
      timeZone: TIMEZONE,
      hour: 'numeric',
      minute: '2-digit',
    });
    assert.ok((await time.innerText()).includes(local.replace(/\s?[AP]M/, '')), `${local} shown`);
    await shot('calls');
  });

  test('filters narrow the table to what the API returns for the same filters', async () => {
    await page.getByLabel('Direction').selectOption('inbound');
    await page.getByRole('textbox', { name: 'Number starts with' }).fill('44203769000');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    const expected = lastHour.filter((c) => c.i % 2 === 0 && c.i < 10);
    await waitFor(async () => (await rowCount()) === expected.length, `${expected.length} filtered rows`);
    const ids = await page
      .locator('table.calls tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.dataset.id));
    assert.deepEqual(ids, expected.map(expectedId));

    await page.getByLabel('Trunk').fill('carrier-a');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    const trunk = expected.filter((c) => c.i % 4 === 0);
    await waitFor(async () => (await rowCount()) === trunk.length, `${trunk.length} rows on carrier-a`);
  });

  test('"Download CSV" downloads exactly the filtered calls', async () => {
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    const csv = fs
      .readFileSync((await download.path())!, 'utf8')
      .trim()
      .split('\n');
    const expected = lastHour.filter((c) => c.i % 4 === 0 && c.i < 10);
    assert.equal(csv.length, expected.length + 1, csv.join('\n'));
    for (const c of expected)
      assert.ok(
        csv.some((line) => line.includes(`portal-${c.i},`)),
        `portal-${c.i}`,
      );
    assert.match(download.suggestedFilename(), /^cdrs-.*\.csv$/);
  });

  test('a call opens in a detail drawer with every field and its other leg', async () => {
    await page.getByRole('button', { name: 'Clear' }).click();
    await waitFor(async () => (await rowCount()) === lastHour.length, 'all rows again');
    await page.locator('table.calls tbody tr').first().click();
    const drawer = page.getByRole('dialog', { name: 'Call detail' });
    await drawer.locator('dt', { hasText: 'sip_network_ip' }).waitFor();
    const value = (key: string) =>
      drawer.locator('.fields > div', { has: page.locator(`dt:text-is("${key}")`) }).locator('dd');
    assert.equal(await value('call_id').innerText(), 'portal-0');
    assert.equal(await value('sip_network_ip').innerText(), '198.51.100.0');
    assert.equal(await value('trunk_name').innerText(), 'carrier-a');
    const legs = drawer.locator('ul.legs button');
    await legs.first().waitFor();
    assert.equal(await legs.count(), 1);
    assert.equal(await legs.first().getAttribute('data-leg'), expectedId(calls[1]));
    await shot('call-detail');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
  });

  test('the keyboard reaches a call and opens it', async () => {
    await page.locator('table.calls tbody tr').nth(1).focus();
    await page.keyboard.press('Enter');
    const drawer = page.getByRole('dialog', { name: 'Call detail' });
    await drawer.locator('dt', { hasText: 'call_id' }).first().waitFor();
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
  });

  test('Traffic draws one bucket per hour of the range, with the range totals', async () => {
    await page.getByRole('link', { name: 'Traffic' }).click();
    await page.getByRole('heading', { name: 'Traffic' }).waitFor();
    await page.getByRole('radio', { name: 'Custom' }).click();
    // Six whole local hours: the five before the current one, and the current one (New York's
    // offset is whole hours, so local hours start where UTC hours do).
    const hour = Math.floor(seededAt / 3600_000) * 3600_000;
    const local = new Intl.DateTimeFormat('sv-SE', {
      timeZone: TIMEZONE,
      dateStyle: 'short',
      timeStyle: 'short',
    });
    const [start, end] = [hour - 5 * 3600_000, hour + 3600_000].map((t) => local.format(t).replace(' ', 'T'));
    await page.locator('input[name="from"]').fill(start);
    await page.locator('input[name="to"]').fill(end);
    await page.getByRole('button', { name: 'Apply' }).click();
    const charts = page.locator('.chart-canvas');
    await waitFor(async () => (await charts.count()) === 2, 'two charts');
    for (const chart of await charts.all()) {
      assert.equal(await chart.getAttribute('data-buckets'), '6');
      assert.equal(await chart.locator('canvas').count(), 1, 'uPlot drew on a canvas');
    }
    assert.equal(await page.locator('[data-stat="Calls"]').innerText(), String(calls.length));
    const answered = calls.filter((c) => c.doc.billing_seconds > 0).length;
    assert.equal(await page.locator('[data-stat="Answered"]').innerText(), String(answered));
    assert.equal(
      await page.locator('[data-stat="ASR"]').innerText(),
      `${((answered / calls.length) * 100).toFixed(1)}%`,
    );
    await shot('traffic');
  });

  test('an export is created, goes to Completed without a reload, and downloads', async () => {
    await page.getByRole('link', { name: 'Exports' }).click();
    await page.getByText('No exports yet.').waitFor();
    await page.getByLabel('Type').selectOption('cdr_in');
    await page.getByRole('button', { name: 'Create export' }).click();
    const row = page.locator('tr[data-export]').first();
    await row.waitFor();
    await page.locator('tr[data-status="completed"]').waitFor({ timeout: 30_000 });
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('button', { name: 'Download' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /\.csv\.gz$/);
    const lines = gunzipSync(fs.readFileSync((await download.path())!))
      .toString('utf8')
      .trim()
      .split('\n');
    const now = new Date();
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const inbound = calls.filter((c) => c.doc.direction === 'inbound' && c.endUnix * 1000 >= monthStart);
    assert.equal(lines.length, inbound.length + 1);
    await shot('exports');
  });

  test('at 375 px wide the pages fit the screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.getByRole('link', { name: 'Calls' }).click();
    await page.locator('table.calls tbody tr').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 375, `page is ${overflow}px wide`);
    await shot('calls-mobile', false);
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  test('signing out forgets the key', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('cdrex.session')), null);
  });
});

/** The Kazoo id of an uploaded call: `YYYYMM-<call_id>=<in|out>1-<DD>T<HHMMSS>` of its start (UTC). */
function expectedId(c: (typeof calls)[number]): string {
  const start = new Date((c.endUnix - c.doc.duration_seconds) * 1000).toISOString();
  const [month, day, time] = [start.slice(0, 7).replace('-', ''), start.slice(8, 10), start.slice(11, 19)];
  const kind = c.doc.direction === 'inbound' ? 'in' : 'out';
  return `${month}-${c.doc.call_id}=${kind}1-${day}T${time.replaceAll(':', '')}`;
}
