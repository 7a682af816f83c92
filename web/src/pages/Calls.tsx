// Calls: the account's CDRs for a range, newest first, on the Kazoo keyset API; filters map one
// to one onto Kazoo filter_ parameters, so "Download CSV" asks for exactly what is shown, and the
// summary route with the same parameters gives the total. One Apply takes the filters and a
// custom range together. Paging lives in useCdrPages, the form in CallFilters.
import { useState } from 'preact/hooks';
import { downloadToken, followLink, queryString } from '../api';
import { filtered, listQuery, NO_FILTERS, type Filters } from '../cdr-query';
import { CallDetail } from '../components/CallDetail';
import { CallFilters } from '../components/CallFilters';
import { CallsTable } from '../components/CallsTable';
import { Empty, Failure, Loading } from '../components/States';
import { useCdrPages } from '../hooks/useCdrPages';
import type { Session } from '../session';
import { presetRange, type Range } from '../time';

export function Calls({ session }: { session: Session }) {
  const [range, setRange] = useState<Range>(() => presetRange('today'));
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [openId, setOpenId] = useState<string>();
  const [downloading, setDownloading] = useState(false);
  const { rows, nextKey, loading, error, total, load, setError } = useCdrPages(session, range, filters);

  const downloadCsv = async () => {
    setDownloading(true);
    try {
      const name = `cdrs-${range.from.toISOString().slice(0, 10)}.csv`;
      followLink(csvLink(session, range, filters, name, await downloadToken(session)), name);
    } catch (err) {
      setError(err);
    } finally {
      setDownloading(false);
    }
  };

  return (
    <section aria-labelledby="calls-title" class="page">
      <header class="page-head">
        <h1 id="calls-title">Calls</h1>
        <button type="button" onClick={downloadCsv} disabled={downloading} data-testid="download-csv">
          {downloading ? 'Preparing…' : 'Download CSV'}
        </button>
      </header>
      <CallFilters range={range} onRange={setRange} onFilters={setFilters} />
      {error !== undefined && <Failure error={error} retry={() => void load()} />}
      {!error && !loading && rows.length === 0 && (
        <Empty title="No calls in this range.">Pick a longer range or clear the filters.</Empty>
      )}
      <p class="count" role="status" data-total={total ?? ''}>
        {countText(total, rows.length, filtered(filters))}
      </p>
      {rows.length > 0 && (
        <CallsTable rows={rows} onOpen={setOpenId} next={loading ? undefined : nextKey} onMore={load} />
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

/** The Kazoo CSV link for what the page shows, authorised by a one-use download token. */
function csvLink(session: Session, range: Range, filters: Filters, name: string, token: string): string {
  const query = {
    ...listQuery(range, filters),
    paginate: 'false',
    accept: 'csv',
    // Cells a spreadsheet would run as formulas get a leading ' (a caller name is anyone's text).
    csv_formula_escape: 'true',
    file_name: name,
    auth_token: token,
  };
  return `/v2/accounts/${encodeURIComponent(session.accountId)}/cdrs${queryString(query)}`;
}

/** "N calls in this range[ matching the filters][; M shown]", or a blank while counting. */
function countText(total: number | undefined, shown: number, isFiltered: boolean): string {
  if (total === undefined) return ' ';
  if (total === 0) return 'No calls match.';
  const calls = `${total.toLocaleString()} ${total === 1 ? 'call' : 'calls'} in this range`;
  return `${calls}${isFiltered ? ' matching the filters' : ''}${shown < total ? `; ${shown.toLocaleString()} shown` : ''}`;
}
