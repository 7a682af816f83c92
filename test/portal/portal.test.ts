// The web portal in a real browser (Debian's chromium, driven by playwright-core): sign in, filter
// calls under one Apply with their total, open a detail grouped for people with the other legs of
// the same call, download the filtered CSV, draw the traffic charts, create exports, watch them
// complete and download them under a name that says what they hold. Screenshots go to
// test-results/ (the README's are copied from there to docs/screenshots/).
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

// 60 calls, one every 5 minutes back from 2.5 minutes ago: 12 of them in the last hour. The two
// newest are two legs of one call: they end together.
const seededAt = Date.now();
const calls = Array.from({ length: 60 }, (_, i) => {
  const endUnix = Math.floor((seededAt - ((i === 1 ? 0 : i * 300) + 150) * 1000) / 1000);
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
      hangup_code: busy ? '486' : '200',
      // The switch received the BYE: the far end of the leg hung up.
      disposition: 'recv_bye',
      sip_network_ip: `198.51.100.${i}`,
      // Kazoo units: 125 = $0.0125.
      cost: busy ? '0' : '125',
      custom_channel_vars: { resource_id: i % 4 === 0 ? 'carrier-a' : 'carrier-b' },
      // The two newest calls are two legs of one interaction.
      ...(i < 2 ? { interaction_id: 'portal-interaction' } : {}),
    },
  };
});
const lastHour = calls.filter((c) => c.endUnix * 1000 > seededAt - 3600_000);
// A later call of the same interaction (a callback a day before): not a leg of the newest call.
const otherCall = {
  call_id: 'portal-callback',
  timestamp: Math.floor(seededAt / 1000) - 86400 + GREGORIAN_OFFSET,
  duration_seconds: 30,
  billing_seconds: 30,
  direction: 'outbound',
  interaction_id: 'portal-interaction',
};
const answeredCost = calls.reduce((sum, c) => sum + Number(c.doc.cost), 0);
const usd = (units: number) =>
  `$${(units / 10000).toLocaleString('en-US', { minimumFractionDigits: 4, maximumFractionDigits: 4 })}`;

let browser: Browser;
let page: Page;

async function shot(name: string, fullPage = true) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, `portal-${name}.png`), fullPage });
}
const rowCount = () => page.locator('table.calls tbody tr').count();
const total = () => page.locator('[data-total]').getAttribute('data-total');

describe('web portal', { skip }, () => {
  before(async () => {
    const res = await fetch(`${server.base}/v2/accounts/${alice.account_id}/cdrs`, {
      method: 'PUT',
      headers: { 'X-Auth-Token': alice.api_key, 'Content-Type': 'application/json' },
      body: JSON.stringify({ data: [...calls.map((c) => c.doc), otherCall] }),
    });
    assert.equal(res.status, 201, await res.text());
    browser = await launchBrowser();
    const context = await browser.newContext({
      timezoneId: TIMEZONE,
      locale: 'en-US',
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
    await waitFor(async () => (await total()) === String(lastHour.length), 'the total of the range');
    assert.match(
      await page.locator('.count').innerText(),
      new RegExp(`^${lastHour.length} calls in this range`),
    );
    // Costs with the currency and four decimals, a zero too.
    const costOf = (i: number) =>
      page.locator(`tr[data-id="${expectedId(calls[i])}"] td[data-cost]`).innerText();
    assert.equal(await costOf(1), '$0.0125');
    assert.equal(await costOf(0), '$0.0000');
    await shot('calls');
  });

  test('filters narrow the table to what the API returns for the same filters', async () => {
    await page.getByLabel('Direction').selectOption('inbound');
    await page.getByRole('textbox', { name: 'Number starts with' }).fill('44203769000');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    const expected = lastHour.filter((c) => c.i % 2 === 0 && c.i < 10);
    await waitFor(async () => (await rowCount()) === expected.length, `${expected.length} filtered rows`);
    await waitFor(async () => (await total()) === String(expected.length), 'the total of the filters');
    assert.match(await page.locator('.count').innerText(), /matching the filters/);
    const ids = await page
      .locator('table.calls tbody tr')
      .evaluateAll((rows) => rows.map((r) => r.dataset.id));
    assert.deepEqual(ids, expected.map(expectedId));

    await page.getByLabel('Trunk').fill('carrier-a');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    const trunk = expected.filter((c) => c.i % 4 === 0);
    await waitFor(async () => (await rowCount()) === trunk.length, `${trunk.length} rows on carrier-a`);
  });

  test('a custom range is a draft, highlighted only once the one Apply takes it with the filters', async () => {
    await page.getByRole('radio', { name: 'Custom' }).click();
    assert.equal(await page.getByRole('radio', { name: 'Custom' }).getAttribute('aria-checked'), 'false');
    assert.equal(await page.getByRole('radio', { name: 'Last hour' }).getAttribute('aria-checked'), 'true');
    assert.equal(await page.getByRole('button', { name: 'Apply', exact: true }).count(), 1, 'one Apply');
    // The last half hour (local time): the inbound carrier-a calls in it, under the same Apply.
    const local = new Intl.DateTimeFormat('sv-SE', {
      timeZone: TIMEZONE,
      dateStyle: 'short',
      timeStyle: 'short',
    });
    const from = Math.floor((seededAt - 1800_000) / 60_000) * 60_000;
    const to = Math.ceil(seededAt / 60_000) * 60_000;
    await page.locator('input[name="from"]').fill(local.format(from).replace(' ', 'T'));
    await page.locator('input[name="to"]').fill(local.format(to).replace(' ', 'T'));
    // Editing the draft asks for nothing: the table still shows the applied range.
    const before = await rowCount();
    assert.equal(await page.getByRole('radio', { name: 'Custom' }).getAttribute('aria-checked'), 'false');
    await page.getByRole('button', { name: 'Apply', exact: true }).click();
    await page.locator('[role="radio"][data-preset="custom"][aria-checked="true"]').waitFor();
    const expected = calls.filter(
      (c) => c.i % 4 === 0 && c.i < 10 && (c.endUnix - c.doc.duration_seconds) * 1000 >= from,
    );
    assert.ok(expected.length < before, 'the custom range narrows the table');
    await waitFor(
      async () => (await rowCount()) === expected.length,
      `${expected.length} rows in the half hour`,
    );
    await page.getByRole('radio', { name: 'Last hour' }).click();
    await waitFor(async () => (await rowCount()) === before, 'the preset again');
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

  test('the table header stays in view while the calls scroll', async () => {
    await page.getByRole('button', { name: 'Clear' }).click();
    await waitFor(async () => (await rowCount()) === lastHour.length, 'all rows of the hour');
    await page.setViewportSize({ width: 1280, height: 420 });
    await page
      .locator('table.calls tbody tr')
      .last()
      .evaluate((row) => row.scrollIntoView({ block: 'end' }));
    const header = page.locator('table.calls thead th').first();
    const visible = await header.evaluate((th) => {
      const box = th.getBoundingClientRect();
      return document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2) === th;
    });
    assert.ok(visible, 'the header is on screen and not covered');
    assert.ok(
      (await page
        .locator('table.calls tbody tr')
        .first()
        .evaluate((row) => row.getBoundingClientRect().bottom)) <
        (await header.evaluate((th) => th.getBoundingClientRect().bottom)) + 1,
      'the first row has scrolled away under the header',
    );
    await page.setViewportSize({ width: 1280, height: 860 });
  });

  test('a call opens in a drawer grouped for people, the raw fields folded, and only its own other leg', async () => {
    await page.getByRole('button', { name: 'Clear' }).click();
    await waitFor(async () => (await rowCount()) === lastHour.length, 'all rows again');
    await page.locator(`tr[data-id="${expectedId(calls[1])}"]`).click();
    const drawer = page.getByRole('dialog', { name: 'Call detail' });
    await drawer.locator('dt', { hasText: 'sip_network_ip' }).waitFor({ state: 'attached' });
    const group = (name: string) => drawer.getByRole('region', { name });
    const value = (name: string, label: string) =>
      group(name).locator(`[data-field="${label}"] dd`).innerText();
    for (const name of ['When', 'Who', 'Result', 'Money'])
      assert.equal(await group(name).getByRole('heading', { name }).count(), 1, name);
    // When: times a person reads, in the browser's zone; no Gregorian seconds.
    const c = calls[1];
    const end = new Date(c.endUnix * 1000);
    const clock = (d: Date) =>
      d.toLocaleTimeString('en-US', {
        timeZone: TIMEZONE,
        hour: 'numeric',
        minute: '2-digit',
        second: '2-digit',
      });
    const start = new Date((c.endUnix - c.doc.duration_seconds) * 1000);
    assert.ok((await value('When', 'Start')).includes(clock(start).replace(/\s?[AP]M/, '')));
    assert.ok((await value('When', 'Answer')).includes(clock(start).replace(/\s?[AP]M/, '')));
    assert.ok((await value('When', 'End')).includes(clock(end).replace(/\s?[AP]M/, '')));
    assert.doesNotMatch(await group('When').innerText(), /\d{11}/);
    // Who, result, money.
    assert.equal(await value('Who', 'Caller'), c.doc.caller_id_number);
    assert.equal(await value('Who', 'Callee'), c.doc.callee_id_number);
    assert.equal(await value('Who', 'Trunk'), 'carrier-b');
    assert.equal(await value('Result', 'Status'), 'Answered');
    assert.match(
      await value('Result', 'Cause'),
      /^NORMAL_CLEARING: the call was answered and ended normally$/,
    );
    assert.equal(await value('Result', 'SIP'), '200 OK');
    assert.equal(await value('Result', 'Hung up by'), 'Callee', 'recv_bye on an outbound leg');
    assert.equal(await value('Money', 'Cost'), '$0.0125');
    // The raw fields and the switch's variables, folded away.
    const technical = drawer.locator('details.technical');
    assert.equal(await technical.getAttribute('open'), null);
    assert.equal(await technical.locator('dt:text-is("sip_network_ip")').isVisible(), false);
    await technical.locator('summary').click();
    const raw = (key: string) =>
      technical.locator('.fields > div', { has: page.locator(`dt:text-is("${key}")`) }).locator('dd');
    assert.equal(await raw('call_id').innerText(), 'portal-1');
    assert.equal(await raw('sip_network_ip').innerText(), '198.51.100.1');
    assert.match(await raw('custom_channel_vars').innerText(), /"resource_id": "carrier-b"/);
    // The other leg of this call; not the interaction's later call.
    const legs = drawer.locator('ul.legs button');
    await legs.first().waitFor();
    assert.equal(await legs.count(), 1);
    assert.equal(await legs.first().getAttribute('data-leg'), expectedId(calls[0]));
    await legs.first().click();
    await waitFor(
      async () =>
        (await drawer
          .locator('[data-field="Hung up by"] dd')
          .innerText()
          .catch(() => '')) === 'Caller',
      'the inbound leg: recv_bye is the caller',
    );
    assert.equal(await value('Result', 'SIP'), '486 Busy Here');
    assert.match(await value('Result', 'Cause'), /^USER_BUSY: the called party was busy$/);
    assert.equal(await value('When', 'Answer'), 'not answered');
    // Its legs load after the detail: the other leg is the one it came from.
    await drawer.locator(`ul.legs button[data-leg="${expectedId(calls[1])}"]`).waitFor();
    assert.equal(await drawer.locator('ul.legs button').count(), 1);
    await technical.locator('summary').click();
    await shot('call-detail');
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'detached' });
  });

  test('the keyboard reaches a call and opens it', async () => {
    await page.locator('table.calls tbody tr').nth(1).focus();
    await page.keyboard.press('Enter');
    const drawer = page.getByRole('dialog', { name: 'Call detail' });
    await drawer.getByRole('region', { name: 'When' }).waitFor();
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
    // The range before Apply stays on screen until the new one's summary arrives: wait for its
    // totals, then read the charts and the other figures of that same answer.
    const callsStat = page.locator('[data-stat="Calls"]');
    await waitFor(
      async () => (await callsStat.innerText()) === String(calls.length),
      "the range's call count",
    );
    const charts = page.locator('.chart-canvas');
    await waitFor(async () => (await charts.count()) === 2, 'two charts');
    for (const chart of await charts.all()) {
      assert.equal(await chart.getAttribute('data-buckets'), '6');
      // uPlot draws in an effect, and redraws (destroy, then a new canvas) when the data object
      // changes: wait for exactly one canvas rather than look once.
      await waitFor(async () => (await chart.locator('canvas').count()) === 1, 'uPlot to draw on one canvas');
    }
    assert.equal(await callsStat.innerText(), String(calls.length));
    const answered = calls.filter((c) => c.doc.billing_seconds > 0).length;
    assert.equal(await page.locator('[data-stat="Answered"]').innerText(), String(answered));
    assert.equal(
      await page.locator('[data-stat="ASR"]').innerText(),
      `${((answered / calls.length) * 100).toFixed(1)}%`,
    );
    // The summary's cost is in the list's unit: shown as the list shows it.
    assert.equal(await page.locator('[data-stat="Cost"]').innerText(), usd(answeredCost));
    await shot('traffic');
  });

  test('a range without calls shows — for the answer-seizure ratio, not 0.0%', async () => {
    const local = new Intl.DateTimeFormat('sv-SE', {
      timeZone: TIMEZONE,
      dateStyle: 'short',
      timeStyle: 'short',
    });
    const [start, end] = [seededAt - 10 * 86400_000, seededAt - 9 * 86400_000].map((t) =>
      local.format(t).replace(' ', 'T'),
    );
    await page.locator('input[name="from"]').fill(start);
    await page.locator('input[name="to"]').fill(end);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByText('No calls in this range.').waitFor();
    assert.equal(await page.locator('[data-stat="Calls"]').innerText(), '0');
    assert.equal(await page.locator('[data-stat="ASR"]').innerText(), '—');
    assert.equal(await page.locator('[data-stat="Cost"]').innerText(), '$0.0000');
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
    const now = new Date();
    const month = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
    // Named for what it holds, not for the file's id.
    assert.equal(download.suggestedFilename(), `cdr_in-${month}.csv.gz`);
    const file = fs.readFileSync((await download.path())!);
    const lines = gunzipSync(file).toString('utf8').trim().split('\n');
    const monthStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
    const inbound = calls.filter(
      (c) => c.doc.direction === 'inbound' && (c.endUnix - c.doc.duration_seconds) * 1000 >= monthStart,
    );
    assert.equal(lines.length, inbound.length + 1);
    // Rows and size of the file, before anyone downloads it.
    assert.equal(await row.locator('[data-rows]').innerText(), String(inbound.length));
    assert.match(await row.locator('[data-size]').innerText(), /^\d+ B$|^[\d.]+ KB$/);
    if (file.length < 1024) assert.equal(await row.locator('[data-size]').innerText(), `${file.length} B`);
    assert.equal(await row.locator('td.filter').innerText(), 'All DIDs');
  });

  test("a trunk export is labelled with the API's voice_out_trunk.id; an empty one says so", async () => {
    const trunk = '457bf47d-446d-41cd-91c3-dfbda7bf0753';
    await page.getByLabel('Type').selectOption('cdr_out');
    await page.getByLabel(/voice_out_trunk\.id/).fill(trunk);
    await page.getByRole('button', { name: 'Create export' }).click();
    await waitFor(async () => (await page.locator('tr[data-export]').count()) === 2, 'the second export');
    const row = page.locator('tr[data-export]').first();
    assert.equal(await row.locator('td.filter').innerText(), `voice_out_trunk.id ${trunk}`);
    await page.locator('tr[data-status="completed"][data-empty="true"]').waitFor({ timeout: 30_000 });
    assert.equal(await row.locator('[data-rows]').innerText(), '0');
    assert.equal(await row.getByText('No calls in this period').count(), 1);
    assert.equal(await row.getByRole('button', { name: 'Download' }).count(), 0);
    await shot('exports');
  });

  test('at 375 px wide the pages fit the screen', async () => {
    await page.setViewportSize({ width: 375, height: 740 });
    await page.getByRole('link', { name: 'Calls' }).click();
    await page.locator('table.calls tbody tr').first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(overflow <= 375, `page is ${overflow}px wide`);
    // The columns that matter come first and fit the screen.
    const fitting = await page
      .locator('table.calls thead th')
      .evaluateAll((cells) =>
        cells.filter((th) => th.getBoundingClientRect().right <= 375).map((th) => th.textContent?.trim()),
      );
    assert.deepEqual(fitting.slice(0, 3), ['Time', 'From', 'To']);
    // No select is narrower than its longest option (a clipped choice cannot be read).
    const clipped = await page.locator('form.filters select').evaluateAll((selects) =>
      (selects as HTMLSelectElement[])
        .map((select) => {
          const shown = select.getBoundingClientRect().width;
          const probe = select.cloneNode(true) as HTMLSelectElement;
          probe.style.cssText = 'position:absolute;width:auto;min-width:0;flex:none;visibility:hidden';
          select.after(probe); // same parent: same font and rules
          const natural = probe.getBoundingClientRect().width;
          probe.remove();
          return { name: select.name, shown, natural };
        })
        .filter((s) => s.shown + 0.5 < s.natural),
    );
    assert.deepEqual(clipped, []);
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
