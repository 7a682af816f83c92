// Realistic synthetic CDRs in the DIDWW export layout, deterministic for a seed: answered and
// failed calls, E.164 numbers of a few countries, a handful of DIDs and trunks, costs. For demos
// and benchmarks; the rows go through the same import path as a customer's file.
import { Readable } from 'node:stream';
import { headerLine, INBOUND_COLUMNS, OUTBOUND_COLUMNS } from '../formats/didww-csv.js';
import type { CdrKind } from '../store/queries/cdrs.js';
import type { IngestWindow } from './window.js';

export interface GenerateOptions {
  kind: CdrKind;
  /** First day of the month, UTC. */
  month: Date;
  rows: number;
  seed: number;
  onProgress?: (rowsDone: number) => void;
  /** Keeps every time inside it (ingestWindow): the month is cut to the window. */
  window?: IngestWindow;
}

/** Longer than any call generated below (at most 25 s of ringing and about 67 minutes of talk). */
const CALL_SPAN_MS = 2 * 3600 * 1000;

/** The span start times are spread over: the month, cut to the window so that every start,
 * connect and end time lies in it; undefined when nothing of the month is left. The cut falls at
 * a whole UTC day, so the same seed gives the same rows all day long. */
export function generationSpan(
  month: Date,
  window?: IngestWindow,
): { start: number; end: number } | undefined {
  let start = month.getTime();
  let end = Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1);
  if (window) {
    const to = window.to;
    const lastDay = Date.UTC(to.getUTCFullYear(), to.getUTCMonth(), to.getUTCDate());
    start = Math.max(start, window.from.getTime());
    end = Math.min(end, lastDay - CALL_SPAN_MS);
  }
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

const COUNTRIES = [
  {
    prefix: '1',
    digits: 10,
    name: 'United States',
    networks: ['AT&T Mobility', 'Verizon Wireless', 'Lumen'],
  },
  { prefix: '44', digits: 10, name: 'United Kingdom', networks: ['Vodafone UK', 'EE', 'BT'] },
  { prefix: '49', digits: 11, name: 'Germany', networks: ['Telekom', 'Vodafone DE', 'O2 DE'] },
  { prefix: '33', digits: 9, name: 'France', networks: ['Orange', 'SFR', 'Bouygues'] },
  { prefix: '972', digits: 9, name: 'Israel', networks: ['Cellcom', 'Partner', 'Bezeq'] },
];
const FIRST_NAMES = ['ALICE', 'BOB', 'CAROL', 'DAVE', 'ERIN', 'FRANK', 'GRACE', 'WIRELESS CALLER', ''];
const FAILURES = [
  { code: '486', reason: 'Busy Here' },
  { code: '487', reason: 'Request Terminated' },
  { code: '480', reason: 'Temporarily Unavailable' },
  { code: '408', reason: 'Request Timeout' },
  { code: '404', reason: 'Not Found' },
  { code: '503', reason: 'Service Unavailable' },
];
const INITIATORS = ['Caller', 'Callee', 'System'];

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

export function generateCsv(options: GenerateOptions): Readable {
  const rand = prng(options.seed);
  const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)];
  const digits = (n: number) => {
    let s = String(1 + Math.floor(rand() * 9));
    while (s.length < n) s += Math.floor(rand() * 10);
    return s;
  };
  const number = () => {
    const country = pick(COUNTRIES);
    return { country, e164: country.prefix + digits(country.digits) };
  };
  const uuid = () => {
    const h = () =>
      Math.floor(rand() * 0x100000000)
        .toString(16)
        .padStart(8, '0');
    const x = h() + h() + h() + h();
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-4${x.slice(13, 16)}-a${x.slice(17, 20)}-${x.slice(20, 32)}`;
  };
  const dids = Array.from({ length: 5 }, () => number().e164);
  const inTrunks = ['Main SIP trunk', 'Backup SIP trunk', 'PBX Office'];
  const outTrunks = Array.from({ length: 3 }, () => uuid());

  const span = generationSpan(options.month, options.window);
  if (!span) throw new RangeError('No time of that month lies in the ingestion window.');
  const { start, end } = span;
  const step = (end - start) / Math.max(1, options.rows);
  const header = headerLine(options.kind === 'cdr_in' ? INBOUND_COLUMNS : OUTBOUND_COLUMNS);
  let row = 0;

  const inboundRow = (startMs: number): string => {
    const answered = rand() < 0.72;
    const caller = number();
    const did = pick(dids);
    const ring = 1000 * (1 + Math.floor(rand() * 20));
    const duration = answered ? Math.max(1, Math.floor(-Math.log(1 - rand()) * 180)) : 0;
    const connect = answered ? startMs + ring : 0;
    const endMs = answered ? connect + duration * 1000 : startMs + ring;
    const failure = pick(FAILURES);
    const tollFree = did.startsWith('1') && rand() < 0.3;
    const minutes = duration / 60;
    const tollfreeCost = tollFree ? minutes * 0.018 : 0;
    const pstn = minutes * 0.0025;
    const metered = answered && rand() < 0.2 ? minutes * 0.001 : 0;
    const cnam = answered && caller.country.prefix === '1' ? 0.004 : 0;
    const total = tollfreeCost + pstn + metered + cnam;
    const name = caller.country.prefix === '1' ? pick(FIRST_NAMES) : '';
    return [
      formatTime(startMs),
      answered ? formatTime(connect) : '',
      answered ? formatTime(endMs) : '',
      answered ? 'Success' : 'Failed',
      caller.e164,
      name,
      did,
      duration,
      1 + (rand() < 0.05 ? 1 : 0),
      answered ? '200' : failure.code,
      answered ? 'OK' : failure.reason,
      pick(INITIATORS),
      pick(inTrunks),
      did,
      '',
      rand() < 0.5 ? 'Default capacity' : '',
      money(tollfreeCost),
      money(pstn),
      money(metered),
      money(cnam),
      money(total),
      uuid(),
    ].join(',');
  };

  const outboundRow = (startMs: number): string => {
    const answered = rand() < 0.65;
    const callee = number();
    const cli = pick(dids);
    const ring = 1000 * (1 + Math.floor(rand() * 25));
    const duration = answered ? Math.max(1, Math.floor(-Math.log(1 - rand()) * 150)) : 0;
    const billing = answered ? Math.ceil(duration / 60) * 60 : 0;
    const connect = startMs + ring;
    const failure = pick(FAILURES);
    const mobile = rand() < 0.6;
    const rate = (mobile ? 0.012 : 0.006) * (1 + rand());
    const charged = (billing / 60) * rate;
    return [
      formatTime(startMs),
      answered ? formatTime(connect) : '',
      answered ? formatTime(connect + duration * 1000) : '',
      answered ? 'Success' : 'Failed',
      cli,
      cli,
      callee.e164,
      duration,
      billing,
      answered ? '200' : failure.code,
      answered ? 'OK' : failure.reason,
      pick(outTrunks),
      callee.country.name,
      pick(callee.country.networks),
      mobile ? 'Mobile' : 'Fixed',
      money(rate),
      money(charged),
      answered ? `<sip:+${cli}@sip.example.net>;npi=ISDN;noa=4` : '',
      uuid(),
    ].join(',');
  };

  const makeRow = options.kind === 'cdr_in' ? inboundRow : outboundRow;
  const BATCH = 2000;
  return new Readable({
    read() {
      if (row === 0 && header) this.push(`${header}\n`);
      const lines: string[] = [];
      const stop = Math.min(options.rows, row + BATCH);
      for (; row < stop; row++) {
        // Spread start times evenly over the month with jitter, in ascending order.
        lines.push(makeRow(Math.floor(start + (row + rand()) * step)));
      }
      if (lines.length > 0) this.push(`${lines.join('\n')}\n`);
      options.onProgress?.(row);
      if (row >= options.rows) this.push(null);
    },
  });
}
