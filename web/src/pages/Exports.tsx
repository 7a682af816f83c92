// Exports: the DIDWW exports list, a form to create one, live status while any is running, and
// downloads of finished files.
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
    voice_out_trunk_id?: string;
  };
}
type ExportResource = Resource<ExportAttributes>;

const POLL_MS = 2000;
const RUNNING = ['pending', 'processing'];
const capitalize = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

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
  const filter = a.filters?.did_number ?? a.filters?.voice_out_trunk_id ?? 'all';
  const download = () =>
    downloadFile(session, a.url!).catch((err) => setError(err instanceof Error ? err.message : String(err)));
  return (
    <tr data-export={resource.id} data-status={status}>
      <td>
        <time dateTime={a.created_at} title={formatUtc(created)}>
          {formatLocal(created)}
        </time>
      </td>
      <td>{a.export_type === 'cdr_in' ? 'Inbound' : 'Outbound'}</td>
      <td>{a.filters?.year ? `${a.filters.year}-${String(a.filters.month).padStart(2, '0')}` : '–'}</td>
      <td>{filter}</td>
      <td>
        <span class={`badge ${status}`}>{capitalize(status)}</span>
      </td>
      <td>
        {a.url ? (
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
    if (target.trim()) filters[type === 'cdr_in' ? 'did_number' : 'voice_out_trunk_id'] = target.trim();
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
        {type === 'cdr_in' ? 'DID number' : 'Trunk id'} <span class="muted">(optional)</span>
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
