// Realistic synthetic CDRs in the DIDWW export layout, deterministic for a seed and a "now": a
// carrier's month as its customers see it. Calls follow a day/night and weekday curve, answer
// rates and hang-up causes depend on the destination, talk times have a long tail, a few inbound
// calls take a second attempt, and call ids are unique per month and direction. Nothing starts or
// ends after "now". For demos and benchmarks; the rows go through the same import path as a
// customer's file.
import { Readable } from 'node:stream';
import {
  columnsFor,
  headerLine,
  INBOUND_COLUMNS,
  OUTBOUND_COLUMNS,
  type CsvColumn,
} from '../formats/didww-csv.js';
import type { CdrKind } from '../store/queries/cdrs.js';
import type { IngestWindow } from './window.js';

export interface GenerateOptions {
  kind: CdrKind;
  /** First day of the month, UTC. */
  month: Date;
  rows: number;
  seed: number;
  /** No call starts or ends after it (the CLI's --now, by default the current time). */
  now?: Date;
  onProgress?: (rowsDone: number) => void;
  /** Keeps every time inside it (ingestWindow): the month is cut to the window. */
  window?: IngestWindow;
}

/** Longest talk time generated: 90 minutes (the lognormal tail is cut there). */
const MAX_TALK_S = 90 * 60;
/** Longer than any call generated below (at most 25 s of ringing, a retry, and the longest talk). */
const CALL_SPAN_MS = 2 * 3600 * 1000;
/** Calls start at least this long before "now", so that their ringing ends before it too. */
const RING_MARGIN_MS = 60 * 1000;

/** The span start times are spread over: the month, cut to the window so that every start,
 * connect and end time lies in it, and to "now"; undefined when nothing of the month is left.
 * The window's cut falls at a whole UTC day, so the same seed and --now give the same rows all
 * day long. */
export function generationSpan(
  month: Date,
  window?: IngestWindow,
  now?: Date,
): { start: number; end: number } | undefined {
  let start = month.getTime();
  let end = Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1);
  if (window) {
    const to = window.to;
    const lastDay = Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), to.getUTCDate());
    start = Math.max(start, window.from.getTime());
    end = Math.min(end, lastDay - CALL_SPAN_MS);
  }
  if (now) end = Math.min(end, now.getTime() - RING_MARGIN_MS);
  return end > start ? { start, end } : undefined;
}

/** sfc32: small, fast and good enough for synthetic data; same seed, same rows. */
function prng(seed: number): () => number {
  let a = 0x9e3779b9,
    b = 0x243f6a88,
    c = 0xb7e15162,
    d = seed >>> 0;
  const next = () => {
    a |= 0;
    b |= 0;
    c |= 0;
    d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 16; i++) next();
  return next;
}

/** The seed of one month and direction: the same --seed gives other calls (and call ids) in
 * other months and in the other direction, so unrelated calls never share an id. */
export function streamSeed(seed: number, month: Date, kind: CdrKind): number {
  const monthIndex = month.getUTCFullYear() * 12 + month.getUTCMonth();
  let h = Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) ^ Math.imul(monthIndex, 0x85ebca6b);
  h ^= kind === 'cdr_in' ? 0x27d4eb2f : 0x165667b1;
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  return (h ^ (h >>> 13)) >>> 0;
}

/** Relative call volume by UTC hour: quiet nights, a morning ramp, a lunch dip, busy
 * afternoons and a falling evening. */
const HOUR_WEIGHT = [
  0.06, 0.04, 0.03, 0.03, 0.04, 0.07, 0.15, 0.35, 0.7, 0.95, 1.0, 1.0, 0.85, 0.8, 0.95, 1.0, 0.95, 0.85, 0.6,
  0.45, 0.35, 0.25, 0.15, 0.09,
];
/** Relative volume by UTC weekday, Sunday first. */
const WEEKDAY_WEIGHT = [0.3, 1.0, 1.0, 1.0, 1.0, 0.95, 0.45];

/** The traffic curve's weight for the hour holding `ms`. */
export function trafficWeight(ms: number): number {
  const d = new Date(ms);
  return HOUR_WEIGHT[d.getUTCHours()] * WEEKDAY_WEIGHT[d.getUTCDay()];
}

/** Maps quantiles in [0, 1) to times of the span whose density follows the traffic curve.
 * Quantiles must come in ascending order (the rows are written in time order). */
function curveTimes(start: number, end: number): (quantile: number) => number {
  const HOUR = 3600 * 1000;
  const edges: number[] = [start];
  for (let t = Math.floor(start / HOUR) * HOUR + HOUR; t < end; t += HOUR) edges.push(t);
  edges.push(end);
  const mass = edges.slice(1).map((to, i) => (to - edges[i]) * trafficWeight(edges[i]));
  const total = mass.reduce((a, b) => a + b, 0);
  let bucket = 0;
  let before = 0;
  return (quantile) => {
    const target = quantile * total;
    while (bucket < mass.length - 1 && before + mass[bucket] <= target) before += mass[bucket++];
    const within = mass[bucket] > 0 ? (target - before) / mass[bucket] : 0;
    return Math.floor(edges[bucket] + Math.min(within, 1) * (edges[bucket + 1] - edges[bucket]));
  };
}

interface Failure {
  code: string;
  reason: string;
  /** Relative frequency among failed calls. */
  weight: number;
}

const BUSY = { code: '486', reason: 'Busy Here' };
const CANCELLED = { code: '487', reason: 'Request Terminated' };
const UNAVAILABLE = { code: '480', reason: 'Temporarily Unavailable' };
const TIMEOUT = { code: '408', reason: 'Request Timeout' };
const NOT_FOUND = { code: '404', reason: 'Not Found' };
const DECLINED = { code: '603', reason: 'Decline' };
const OVERLOADED = { code: '503', reason: 'Service Unavailable' };

/** Destinations differ as real ones do: mobile-heavy countries answer less and time out more,
 * long routes congest more. */
const COUNTRIES = [
  {
    prefix: '1',
    digits: 10,
    name: 'United States',
    networks: ['AT&T Mobility', 'Verizon Wireless', 'Lumen'],
    share: 0.4,
    answerRate: 0.74,
    failures: [
      { ...BUSY, weight: 3 },
      { ...CANCELLED, weight: 5 },
      { ...UNAVAILABLE, weight: 2 },
      { ...NOT_FOUND, weight: 1 },
      { ...OVERLOADED, weight: 0.5 },
    ],
  },
  {
    prefix: '44',
    digits: 10,
    name: 'United Kingdom',
    networks: ['Vodafone UK', 'EE', 'BT'],
    share: 0.2,
    answerRate: 0.7,
    failures: [
      { ...BUSY, weight: 3 },
      { ...CANCELLED, weight: 4 },
      { ...UNAVAILABLE, weight: 3 },
      { ...DECLINED, weight: 1 },
    ],
  },
  {
    prefix: '49',
    digits: 11,
    name: 'Germany',
    networks: ['Telekom', 'Vodafone DE', 'O2 DE'],
    share: 0.18,
    answerRate: 0.68,
    failures: [
      { ...BUSY, weight: 4 },
      { ...CANCELLED, weight: 4 },
      { ...UNAVAILABLE, weight: 2 },
      { ...NOT_FOUND, weight: 1 },
    ],
  },
  {
    prefix: '33',
    digits: 9,
    name: 'France',
    networks: ['Orange', 'SFR', 'Bouygues'],
    share: 0.12,
    answerRate: 0.62,
    failures: [
      { ...CANCELLED, weight: 4 },
      { ...UNAVAILABLE, weight: 4 },
      { ...TIMEOUT, weight: 2 },
      { ...BUSY, weight: 2 },
    ],
  },
  {
    prefix: '972',
    digits: 9,
    name: 'Israel',
    networks: ['Cellcom', 'Partner', 'Bezeq'],
    share: 0.1,
    answerRate: 0.52,
    failures: [
      { ...TIMEOUT, weight: 4 },
      { ...OVERLOADED, weight: 3 },
      { ...UNAVAILABLE, weight: 3 },
      { ...BUSY, weight: 1 },
    ],
  },
];
const FIRST_NAMES = ['ALICE', 'BOB', 'CAROL', 'DAVE', 'ERIN', 'FRANK', 'GRACE', 'WIRELESS CALLER', ''];
const INITIATORS = ['Caller', 'Callee', 'System'];
/** Share of inbound calls whose first attempt fails and that the platform tries once more. */
const RETRY_SHARE = 0.03;
const RETRYABLE: Failure[] = [
  { ...UNAVAILABLE, weight: 2 },
  { ...TIMEOUT, weight: 1 },
  { ...OVERLOADED, weight: 1 },
];

/** A version-4-shaped UUID drawn from `rand`. */
function uuidFrom(rand: () => number): string {
  const h = () =>
    Math.floor(rand() * 0x100000000)
      .toString(16)
      .padStart(8, '0');
  const x = h() + h() + h() + h();
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-4${x.slice(13, 16)}-a${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

function formatTime(ms: number): string {
  const d = new Date(ms);
  return (
    `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
    `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`
  );
}

function money(value: number): string {
  return value.toFixed(4);
}

/** The random draws a generated row is made of, all from one stream (the order of draws is the
 * data: same seed, same calls). */
class Dice {
  constructor(readonly rand: () => number) {}
  pick<T>(list: T[]): T {
    return list[Math.floor(this.rand() * list.length)];
  }
  weighted<T extends { weight: number }>(list: T[]): T {
    let r = this.rand() * list.reduce((sum, item) => sum + item.weight, 0);
    for (const item of list) if ((r -= item.weight) < 0) return item;
    return list[list.length - 1];
  }
  /** `n` digits, the first not 0. */
  digits(n: number): string {
    let s = String(1 + Math.floor(this.rand() * 9));
    while (s.length < n) s += Math.floor(this.rand() * 10);
    return s;
  }
  /** A number in a country drawn by its share of traffic. */
  number(): { country: Country; e164: string } {
    const country = this.weighted(COUNTRIES.map((c) => ({ ...c, weight: c.share })));
    return { country, e164: country.prefix + this.digits(country.digits) };
  }
  uuid(): string {
    return uuidFrom(this.rand);
  }
  /** Talk time: lognormal around a minute and a half (median), so most calls are short and a
   * few run long; at least 1 s, at most MAX_TALK_S. */
  talkSeconds(medianS: number): number {
    const z = Math.sqrt(-2 * Math.log(1 - this.rand())) * Math.cos(2 * Math.PI * this.rand());
    return Math.min(MAX_TALK_S, Math.max(1, Math.round(medianS * Math.exp(1.1 * z))));
  }
}

type Country = (typeof COUNTRIES)[number];
type Caller = ReturnType<Dice['number']>;

/** The account's own numbers and trunks: from the seed alone, so the same in every month and
 * direction. */
function accountOf(seed: number) {
  const dice = new Dice(prng(seed));
  const dids = Array.from({ length: 5 }, (_, i) => {
    const country = COUNTRIES[i % 3];
    return country.prefix + dice.digits(country.digits);
  });
  const inTrunks = ['Main SIP trunk', 'Backup SIP trunk', 'PBX Office'];
  const outTrunks = Array.from({ length: 3 }, () => uuidFrom(dice.rand));
  return { dids, inTrunks, outTrunks };
}

/** What the row builders share: the draws, the account, and the latest time a call may end. */
interface Generation {
  dice: Dice;
  account: ReturnType<typeof accountOf>;
  /** Ends after "now" are cut: the call is still ringing or talking, so its talk is shortened. */
  latestEnd: number;
}

/** One row's cells by `cdrs` column (the `column` of the layout in formats/didww-csv.ts). */
type Cells = Record<string, string | number>;

/** A CSV line of `cells` in the order of `columns`. The generated cells need no quoting. */
function lineOf(columns: CsvColumn[], cells: Cells): string {
  return columns
    .map((c) => {
      const cell = cells[c.column];
      // A layout column the builder does not fill is a bug here, not an empty cell.
      if (cell === undefined) throw new Error(`generate: no value for the ${c.column} column`);
      return cell;
    })
    .join(',');
}

/** One attempt of an inbound call (a failed first attempt when `failFirst`). The cells are drawn
 * in a fixed order, which is part of the data a seed gives. */
function inboundAttempt(
  g: Generation,
  startMs: number,
  callId: string,
  attempt: number,
  caller: Caller,
  did: string,
  failFirst: boolean,
): { line: string; endMs: number } {
  const { dice, latestEnd } = g;
  const answered = !failFirst && dice.rand() < caller.country.answerRate;
  const ring = 1000 * (1 + Math.floor(dice.rand() * 20));
  const connect = startMs + ring;
  const talk = answered ? Math.min(dice.talkSeconds(90), Math.floor((latestEnd - connect) / 1000)) : 0;
  const duration = Math.max(answered ? 1 : 0, talk);
  const endMs = answered ? connect + duration * 1000 : startMs + ring;
  const failure = failFirst ? dice.weighted(RETRYABLE) : dice.weighted(caller.country.failures);
  const tollFree = did.startsWith('1') && dice.rand() < 0.3;
  const minutes = duration / 60;
  const tollfreeCost = tollFree ? minutes * 0.018 : 0;
  const pstn = minutes * 0.0025;
  const metered = answered && dice.rand() < 0.2 ? minutes * 0.001 : 0;
  const cnam = answered && caller.country.prefix === '1' ? 0.004 : 0;
  const total = tollfreeCost + pstn + metered + cnam;
  const name = caller.country.prefix === '1' ? dice.pick(FIRST_NAMES) : '';
  const cells: Cells = {
    time_start: formatTime(startMs),
    time_connect: answered ? formatTime(connect) : '',
    time_end: answered ? formatTime(endMs) : '',
    status: answered ? 'Success' : 'Failed',
    source_number: caller.e164,
    source_name: name,
    did_number: did,
    duration_s: duration,
    attempt,
    disconnect_code: answered ? '200' : failure.code,
    disconnect_reason: answered ? 'OK' : failure.reason,
    disconnect_initiator: answered
      ? dice.pick(INITIATORS)
      : failFirst
        ? 'System'
        : dice.pick(['Caller', 'Callee']),
    trunk_name: dice.pick(g.account.inTrunks),
    destination: did,
    trunk_group: '',
    capacity_group: dice.rand() < 0.5 ? 'Default capacity' : '',
    cost_tollfree: money(tollfreeCost),
    cost_pstn: money(pstn),
    cost_metered: money(metered),
    cost_cnam: money(cnam),
    cost: money(total),
    call_id: callId,
  };
  return { line: lineOf(INBOUND_COLUMNS, cells), endMs };
}

/** One inbound call: one row, or (RETRY_SHARE of them) a failed first attempt and a second
 * attempt a few seconds later with the same call id. */
function inboundRows(g: Generation, startMs: number, room: number): string[] {
  const { dice } = g;
  const caller = dice.number();
  const did = dice.pick(g.account.dids);
  const callId = dice.uuid();
  const retry = room > 1 && dice.rand() < RETRY_SHARE;
  const first = inboundAttempt(g, startMs, callId, 1, caller, did, retry);
  if (!retry) return [first.line];
  const secondStart = first.endMs + 1000 * (1 + Math.floor(dice.rand() * 3));
  if (secondStart >= g.latestEnd - RING_MARGIN_MS) return [first.line];
  return [first.line, inboundAttempt(g, secondStart, callId, 2, caller, did, false).line];
}

/** One outbound call; its cells are drawn in a fixed order, which is part of the data a seed gives. */
function outboundRows(g: Generation, startMs: number): string[] {
  const { dice, latestEnd } = g;
  const callee = dice.number();
  const answered = dice.rand() < callee.country.answerRate;
  const cli = dice.pick(g.account.dids);
  const ring = 1000 * (1 + Math.floor(dice.rand() * 25));
  const connect = startMs + ring;
  const talk = answered ? Math.min(dice.talkSeconds(75), Math.floor((latestEnd - connect) / 1000)) : 0;
  const duration = answered ? Math.max(1, talk) : 0;
  const billing = answered ? Math.ceil(duration / 60) * 60 : 0;
  const failure = dice.weighted(callee.country.failures);
  const mobile = dice.rand() < 0.6;
  const rate = (mobile ? 0.012 : 0.006) * (1 + dice.rand());
  const charged = (billing / 60) * rate;
  const cells: Cells = {
    time_start: formatTime(startMs),
    time_connect: answered ? formatTime(connect) : '',
    time_end: answered ? formatTime(connect + duration * 1000) : '',
    status: answered ? 'Success' : 'Failed',
    source_number: cli,
    cli,
    destination: callee.e164,
    duration_s: duration,
    billing_s: billing,
    disconnect_code: answered ? '200' : failure.code,
    disconnect_reason: answered ? 'OK' : failure.reason,
    trunk_name: dice.pick(g.account.outTrunks),
    destination_country: callee.country.name,
    network: dice.pick(callee.country.networks),
    call_type: mobile ? 'Mobile' : 'Fixed',
    rate: money(rate),
    cost: money(charged),
    p_charge_info: answered ? `<sip:+${cli}@sip.example.net>;npi=ISDN;noa=4` : '',
    call_id: dice.uuid(),
  };
  return [lineOf(OUTBOUND_COLUMNS, cells)];
}

export function generateCsv(options: GenerateOptions): Readable {
  const span = generationSpan(options.month, options.window, options.now);
  if (!span) throw new RangeError('No time of that month lies in the ingestion window before now.');
  const g: Generation = {
    dice: new Dice(prng(streamSeed(options.seed, options.month, options.kind))),
    account: accountOf(options.seed),
    latestEnd: options.now ? options.now.getTime() : Infinity,
  };
  const timeAt = curveTimes(span.start, span.end);
  const header = headerLine(columnsFor(options.kind));
  let row = 0;

  const BATCH = 2000;
  return new Readable({
    read() {
      if (row === 0 && header) this.push(`${header}\n`);
      const lines: string[] = [];
      const stop = Math.min(options.rows, row + BATCH);
      while (row < stop) {
        // Start times follow the traffic curve, in ascending order (a retry follows its call).
        const startMs = timeAt((row + g.dice.rand()) / Math.max(1, options.rows));
        const call =
          options.kind === 'cdr_in' ? inboundRows(g, startMs, options.rows - row) : outboundRows(g, startMs);
        lines.push(...call);
        row += call.length;
      }
      if (lines.length > 0) this.push(`${lines.join('\n')}\n`);
      options.onProgress?.(row);
      if (row >= options.rows) this.push(null);
    },
  });
}
