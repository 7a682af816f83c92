// Calls: the account's CDRs for a range, newest first, on the Kazoo keyset API; filters map one
// to one onto Kazoo filter_ parameters, so "Download CSV" asks for exactly what is shown, and the
// summary route with the same parameters gives the total. One Apply takes the filters and a
// custom range together.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { downloadToken, followLink, kazoo, queryString, type Query } from '../api';
import { CallDetail } from '../components/CallDetail';
import { RangePicker } from '../components/RangePicker';
import { Empty, Failure, Loading } from '../components/States';
import { formatUnits } from '../money';
import type { Session } from '../session';
import {
  formatDuration,
  formatLocal,
  formatShort,
  formatUtc,
  presetRange,
  rangeProblem,
  rangeQuery,
  type Range,
} from '../time';

export interface CdrRow {
  id: string;
  call_id: string;
  /** The call's start, as Kazoo prints it: a string of Unix seconds. */
  unix_timestamp: string;
  direction: 'inbound' | 'outbound';
  caller_id_number?: string;
  callee_id_number?: string;
  duration_seconds: number;
  billing_seconds: number;
  hangup_cause?: string;
  /** Kazoo units (1 USD = 10000). */
  cost?: string;
}

interface Filters {
  direction: string;
  numberField: 'caller_id_number' | 'callee_id_number';
  number: string;
  hangupCause: string;
  trunk: string;
  ip: string;
}

const NO_FILTERS: Filters = {
  direction: '',
  numberField: 'callee_id_number',
  number: '',
  hangupCause: '',
  trunk: '',
  ip: '',
};
const PAGE_SIZE = 100;
const CAUSES = [
  'NORMAL_CLEARING',
  'USER_BUSY',
  'NO_ANSWER',
  'CALL_REJECTED',
  'ORIGINATOR_CANCEL',
  'NO_ROUTE_DESTINATION',
  'UNALLOCATED_NUMBER',
];

/** Whether any filter narrows the range (which number field is picked is not a filter). */
const filtered = (f: Filters) =>
  Boolean(f.direction || f.number.trim() || f.hangupCause.trim() || f.trunk.trim() || f.ip.trim());

/** The Kazoo query for a range and filters; a number is matched as a prefix. */
function listQuery(range: Range, f: Filters): Query {
  const number = f.number.trim().replace(/\*+$/, '');
  return {
    ...rangeQuery(range),
    filter_direction: f.direction || undefined,
    [`filter_${f.numberField}`]: number ? `${number}*` : undefined,
    filter_hangup_cause: f.hangupCause.trim() || undefined,
    filter_trunk_name: f.trunk.trim() || undefined,
    filter_sip_network_ip: f.ip.trim() || undefined,
  };
}

export function Calls({ session }: { session: Session }) {
  const [range, setRange] = useState<Range>(() => presetRange('today'));
  const [draftRange, setDraftRange] = useState<Range>();
  const [rangeError, setRangeError] = useState<string>();
  const [total, setTotal] = useState<number>();
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [rows, setRows] = useState<CdrRow[]>([]);
  const [nextKey, setNextKey] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [openId, setOpenId] = useState<string>();
  const [downloading, setDownloading] = useState(false);
  const generation = useRef(0);
  const sentinel = useRef<HTMLTableRowElement>(null);
  const wrap = useRef<HTMLDivElement>(null);

  const load = useCallback(
    async (startKey?: string) => {
      const mine = startKey ? generation.current : ++generation.current;
      setLoading(true);
      setError(undefined);
      try {
        const page = await kazoo<CdrRow[]>(session, '/cdrs', {
          ...listQuery(range, filters),
          page_size: PAGE_SIZE,
          start_key: startKey,
        });
        if (mine !== generation.current) return;
        setRows((prev) => (startKey ? [...prev, ...page.data] : page.data));
        setNextKey(page.next_start_key);
      } catch (err) {
        if (mine === generation.current) setError(err);
      } finally {
        if (mine === generation.current) setLoading(false);
      }
    },
    [session, range, filters],
  );

  useEffect(() => {
    setRows([]);
    setNextKey(undefined);
    void load();
  }, [load]);

  // The total of the range and filters, counted once per search (not per page) and apart from the
  // rows: a count over a long range takes longer than its first page, which need not wait for it.
  useEffect(() => {
    let live = true;
    setTotal(undefined);
    kazoo<{ calls: number }>(session, '/cdrs/summary', listQuery(range, filters))
      .then((res) => live && setTotal(res.data.calls))
      .catch(() => {
        /* the rows' own request reports what is wrong; the count just stays blank */
      });
    return () => {
      live = false;
    };
  }, [session, range, filters]);

  // Infinite scroll: the next page loads when the end of the table comes into view. The table
  // scrolls in its own box (so its header can stick), which is the observer's root.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !nextKey || loading) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) void load(nextKey);
      },
      { root: wrap.current },
    );
    observer.observe(el);
    return () => observer.disconnect();
  }, [nextKey, loading, load]);

  const applyFilters = (e: Event) => {
    e.preventDefault();
    if (draftRange) {
      const why = rangeProblem(draftRange);
      setRangeError(why);
      if (why) return;
      setRange(draftRange);
    }
    setFilters({ ...draft });
  };
  const clearFilters = () => {
    setDraft(NO_FILTERS);
    setFilters(NO_FILTERS);
  };
  const downloadCsv = async () => {
    setDownloading(true);
    try {
      const token = await downloadToken(session);
      const name = `cdrs-${range.from.toISOString().slice(0, 10)}.csv`;
      const query = {
        ...listQuery(range, filters),
        paginate: 'false',
        accept: 'csv',
        // Cells a spreadsheet would run as formulas get a leading ' (a caller name is anyone's text).
        csv_formula_escape: 'true',
        file_name: name,
        auth_token: token,
      };
      followLink(`/v2/accounts/${encodeURIComponent(session.accountId)}/cdrs${queryString(query)}`, name);
    } catch (err) {
      setError(err);
    } finally {
      setDownloading(false);
    }
  };
  const set = (key: keyof Filters) => (e: Event) =>
    setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).value });

  return (
    <section aria-labelledby="calls-title" class="page">
      <header class="page-head">
        <h1 id="calls-title">Calls</h1>
        <button type="button" onClick={downloadCsv} disabled={downloading} data-testid="download-csv">
          {downloading ? 'Preparing…' : 'Download CSV'}
        </button>
      </header>
      <form class="filters" onSubmit={applyFilters} aria-label="Filters">
        <RangePicker
          range={range}
          onChange={(next) => {
            setRangeError(undefined);
            setRange(next);
          }}
          onDraft={(next) => {
            setRangeError(undefined);
            setDraftRange(next);
          }}
          problem={rangeError}
        />
        <label>
          Direction
          <select name="direction" value={draft.direction} onChange={set('direction')}>
            <option value="">Any</option>
            <option value="inbound">Inbound</option>
            <option value="outbound">Outbound</option>
          </select>
        </label>
        <label>
          Number
          <span class="joined">
            <select
              name="number-field"
              aria-label="Which number"
              value={draft.numberField}
              onChange={set('numberField')}
            >
              <option value="callee_id_number">Called</option>
              <option value="caller_id_number">Caller</option>
            </select>
            <input
              name="number"
              aria-label="Number starts with"
              inputMode="tel"
              placeholder="starts with…"
              value={draft.number}
              onInput={set('number')}
            />
          </span>
        </label>
        <label>
          Hangup cause
          <input name="hangup-cause" list="causes" value={draft.hangupCause} onInput={set('hangupCause')} />
          <datalist id="causes">
            {CAUSES.map((c) => (
              <option value={c} />
            ))}
          </datalist>
        </label>
        <label>
          Trunk
          <input name="trunk" value={draft.trunk} onInput={set('trunk')} />
        </label>
        <label>
          SIP IP
          <input name="ip" inputMode="decimal" value={draft.ip} onInput={set('ip')} />
        </label>
        <div class="filter-actions">
          <button type="submit" class="primary">
            Apply
          </button>
          <button type="button" onClick={clearFilters}>
            Clear
          </button>
        </div>
      </form>

      {error !== undefined && <Failure error={error} retry={() => void load()} />}
      {!error && !loading && rows.length === 0 && (
        <Empty title="No calls in this range.">Pick a longer range or clear the filters.</Empty>
      )}
      <p class="count" role="status" data-total={total ?? ''}>
        {total === undefined
          ? ' '
          : total === 0
            ? 'No calls match.'
            : `${total.toLocaleString()} ${total === 1 ? 'call' : 'calls'} in this range${
                filtered(filters) ? ' matching the filters' : ''
              }${rows.length < total ? `; ${rows.length.toLocaleString()} shown` : ''}`}
      </p>
      {rows.length > 0 && (
        <div class="table-wrap calls-wrap" ref={wrap}>
          <table class="calls">
            <caption class="visually-hidden">Calls, newest first</caption>
            <thead>
              {/* What a person scans for first comes first: at 375 px these fit the screen. */}
              <tr>
                <th scope="col">Time</th>
                <th scope="col">From</th>
                <th scope="col">To</th>
                <th scope="col">Result</th>
                <th scope="col" class="num">
                  Duration
                </th>
                <th scope="col" class="num">
                  Cost
                </th>
                <th scope="col">Dir.</th>
                <th scope="col" class="num">
                  Billed
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => {
                const at = new Date(Number(r.unix_timestamp) * 1000);
                return (
                  <tr
                    key={r.id}
                    tabIndex={0}
                    data-id={r.id}
                    aria-label={`Call ${r.caller_id_number ?? ''} to ${r.callee_id_number ?? ''}, ${formatLocal(at)}`}
                    onClick={() => setOpenId(r.id)}
                    onKeyDown={(e) => {
                      if (e.key === 'Enter' || e.key === ' ') {
                        e.preventDefault();
                        setOpenId(r.id);
                      }
                    }}
                  >
                    <td>
                      <time dateTime={at.toISOString()} title={formatUtc(at)}>
                        <span class="long">{formatLocal(at)}</span>
                        <span class="short">{formatShort(at)}</span>
                      </time>
                    </td>
                    <td>{r.caller_id_number || '–'}</td>
                    <td>{r.callee_id_number || '–'}</td>
                    <td>{r.hangup_cause || '–'}</td>
                    <td class="num">{formatDuration(r.duration_seconds)}</td>
                    <td class="num" data-cost>
                      {r.cost === undefined || r.cost === '' ? '–' : formatUnits(r.cost)}
                    </td>
                    <td>
                      <span class={`dir ${r.direction}`} title={r.direction}>
                        {r.direction === 'inbound' ? 'In' : 'Out'}
                      </span>
                    </td>
                    <td class="num">{formatDuration(r.billing_seconds)}</td>
                  </tr>
                );
              })}
            </tbody>
            <tfoot>
              <tr ref={sentinel} class="sentinel" aria-hidden="true">
                <td colSpan={8} />
              </tr>
            </tfoot>
          </table>
        </div>
      )}
      {loading && <Loading what={rows.length ? 'more calls' : 'calls'} />}
      {nextKey && !loading && (
        <button type="button" class="more" onClick={() => void load(nextKey)}>
          Load more
        </button>
      )}
      {!nextKey && rows.length > 0 && !loading && (
        <p class="end">{rows.length} calls — that is all of them.</p>
      )}
      {openId && (
        <CallDetail session={session} id={openId} onOpen={setOpenId} onClose={() => setOpenId(undefined)} />
      )}
    </section>
  );
}
