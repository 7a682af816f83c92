// Exports: the DIDWW exports list, a form to create one, live status while any is running, and
// downloads of finished files, with their rows and size (the resource's meta, API 2026-04-16) and
// a name that says what they hold.
import { useCallback, useEffect, useState } from 'preact/hooks';
import { didww, downloadFile, type Resource } from '../api';
import { Empty, Failure, Loading } from '../components/States';
import type { Session } from '../session';
import { formatLocal, formatUtc } from '../time';

interface ExportAttributes {
  status: string;
  created_at: string;
  url: string | null;
  export_type: 'cdr_in' | 'cdr_out';
  filters?: {
    year?: number | string;
    month?: number | string;
    did_number?: string;
    /** The API's key holds a literal dot. */
    'voice_out_trunk.id'?: string;
  };
}
type ExportResource = Resource<ExportAttributes> & { meta?: { rows: number; size: number } };

const POLL_MS = 2000;
const RUNNING = ['pending', 'processing'];
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);
const TRUNK_FILTER = 'voice_out_trunk.id';

/** The month an export covers, as YYYY-MM, or undefined for a from/to export. */
function periodOf(a: ExportAttributes): string | undefined {
  return a.filters?.year ? `${a.filters.year}-${String(a.filters.month).padStart(2, '0')}` : undefined;
}

/** What the file holds, as its name: cdr_in-2026-12.csv.gz, cdr_out-2026-12-<trunk>.csv.gz. */
export function exportFileName(a: ExportAttributes): string {
  const target = a.filters?.did_number ?? a.filters?.[TRUNK_FILTER];
  const parts = [a.export_type, periodOf(a) ?? 'range', target].filter(Boolean) as string[];
  return `${parts.join('-').replace(/[^\w.+-]+/g, '_')}.csv.gz`;
}

const bytes = new Intl.NumberFormat(undefined, { maximumFractionDigits: 1 });
function formatSize(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${bytes.format(n / 1024)} KB`;
  return `${bytes.format(n / 1024 / 1024)} MB`;
}

/** The months an export may cover: this month and the two before it (UTC), newest first. */
function allowedMonths(now = new Date()): { year: number; month: number; label: string }[] {
  return [0, 1, 2].map((back) => {
    const d = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() - back, 1));
    const label = d.toLocaleDateString(undefined, { year: 'numeric', month: 'long', timeZone: 'UTC' });
    return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, label };
  });
}

export function Exports({ session }: { session: Session }) {
  const [exports, setExports] = useState<ExportResource[]>();
  const [error, setError] = useState<unknown>();
  const [attempt, setAttempt] = useState(0);

  const refresh = useCallback(async () => {
    try {
      const res = await didww<{ data: ExportResource[] }>(session, '/exports?sort=-created_at&page[size]=50');
      setExports(res.data);
      setError(undefined);
    } catch (err) {
      setError(err);
    }
  }, [session]);

  useEffect(() => {
    void refresh();
  }, [refresh, attempt]);

  // Watch running exports without a reload.
  const running = exports?.some((e) => RUNNING.includes(e.attributes.status.toLowerCase())) ?? false;
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => void refresh(), POLL_MS);
    return () => clearInterval(timer);
  }, [running, refresh]);

  return (
    <section aria-labelledby="exports-title" class="page">
      <header class="page-head">
        <h1 id="exports-title">Exports</h1>
      </header>
      <NewExport session={session} onCreated={(created) => setExports([created, ...(exports ?? [])])} />
      {error !== undefined && <Failure error={error} retry={() => setAttempt(attempt + 1)} />}
      {!exports && error === undefined && <Loading what="exports" />}
      {exports?.length === 0 && (
        <Empty title="No exports yet.">Create one above: pick a month and a type.</Empty>
      )}
      {exports && exports.length > 0 && (
        <div class="table-wrap">
          <table class="exports">
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">Type</th>
                <th scope="col">Period</th>
                <th scope="col">Filter</th>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Rows
                </th>
                <th scope="col" class="num">
                  Size
                </th>
                <th scope="col">File</th>
              </tr>
            </thead>
            <tbody>
              {exports.map((e) => (
                <ExportRow key={e.id} session={session} resource={e} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function ExportRow({ session, resource }: { session: Session; resource: ExportResource }) {
  const a = resource.attributes;
  const [error, setError] = useState<string>();
  const created = new Date(a.created_at);
  const status = a.status.toLowerCase();
  const filter = a.filters?.did_number
    ? `DID ${a.filters.did_number}`
    : a.filters?.[TRUNK_FILTER]
      ? `${TRUNK_FILTER} ${a.filters[TRUNK_FILTER]}`
      : a.export_type === 'cdr_in'
        ? 'All DIDs'
        : 'All trunks';
  const meta = resource.meta;
  const empty = status === 'completed' && meta?.rows === 0;
  const download = () =>
    downloadFile(session, a.url!, exportFileName(a)).catch((err) =>
      setError(err instanceof Error ? err.message : String(err)),
    );
  return (
    <tr data-export={resource.id} data-status={status} data-empty={empty ? 'true' : undefined}>
      <td>
        <time dateTime={a.created_at} title={formatUtc(created)}>
          {formatLocal(created)}
        </time>
      </td>
      <td>{a.export_type === 'cdr_in' ? 'Inbound' : 'Outbound'}</td>
      <td>{periodOf(a) ?? '–'}</td>
      <td class="filter">{filter}</td>
      <td>
        <span class={`badge ${status}`}>{capitalize(status)}</span>
      </td>
      <td class="num" data-rows>
        {meta ? meta.rows.toLocaleString() : '–'}
      </td>
      <td class="num" data-size>
        {meta ? formatSize(meta.size) : '–'}
      </td>
      <td>
        {empty ? (
          <span class="muted empty-export" title="The file holds only the header line">
            No calls in this period
          </span>
        ) : a.url ? (
          <button type="button" onClick={download}>
            Download
          </button>
        ) : status === 'completed' ? (
          <span class="muted" title="Files are kept for 30 days">
            Expired
          </span>
        ) : (
          '–'
        )}
        {error && (
          <span class="field-error" role="alert">
            {error}
          </span>
        )}
      </td>
    </tr>
  );
}

function NewExport({ session, onCreated }: { session: Session; onCreated: (e: ExportResource) => void }) {
  const months = allowedMonths();
  const [type, setType] = useState<'cdr_in' | 'cdr_out'>('cdr_in');
  const [month, setMonth] = useState(0);
  const [target, setTarget] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const { year, month: m } = months[month];
    const filters: Record<string, unknown> = { year, month: m };
    if (target.trim()) filters[type === 'cdr_in' ? 'did_number' : TRUNK_FILTER] = target.trim();
    try {
      const res = await didww<{ data: ExportResource }>(session, '/exports', {
        method: 'POST',
        body: { data: { type: 'exports', attributes: { export_type: type, filters } } },
      });
      onCreated(res.data);
      setTarget('');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form class="new-export" onSubmit={submit} aria-label="New export">
      <label>
        Type
        <select
          name="export-type"
          value={type}
          onChange={(e) => setType(e.currentTarget.value as 'cdr_in' | 'cdr_out')}
        >
          <option value="cdr_in">Inbound (cdr_in)</option>
          <option value="cdr_out">Outbound (cdr_out)</option>
        </select>
      </label>
      <label>
        Month
        <select name="month" value={month} onChange={(e) => setMonth(Number(e.currentTarget.value))}>
          {months.map((m, i) => (
            <option value={i}>{m.label}</option>
          ))}
        </select>
      </label>
      <label>
        {type === 'cdr_in' ? 'DID number' : `Voice out trunk (${TRUNK_FILTER})`}{' '}
        <span class="muted">(optional)</span>
        <input
          name="target"
          value={target}
          onInput={(e) => setTarget(e.currentTarget.value)}
          placeholder={type === 'cdr_in' ? 'e.g. 442037691234' : 'voice out trunk UUID'}
        />
      </label>
      <button type="submit" class="primary" disabled={busy}>
        {busy ? 'Creating…' : 'Create export'}
      </button>
      {error !== undefined && <Failure error={error} />}
    </form>
  );
}
