// Traffic: calls per hour (or day), answer-seizure ratio, billed minutes and cost for a range,
// from the Kazoo summary route. Empty buckets are drawn as zeros so gaps show as gaps.
import { useEffect, useMemo, useState } from 'preact/hooks';
import { kazoo } from '../api';
import { Chart, type Series } from '../components/Chart';
import { RangePicker } from '../components/RangePicker';
import { Empty, Failure, Loading } from '../components/States';
import { formatUnits } from '../money';
import type { Session } from '../session';
import { bucketFor, bucketStarts, presetRange, rangeQuery, type Range } from '../time';

interface Totals {
  calls: number;
  answered: number;
  asr: number;
  duration_seconds: number;
  billing_seconds: number;
  cost: string;
}
interface Summary extends Totals {
  buckets: (Totals & { start: string })[];
}

const number = new Intl.NumberFormat();
const percent = (v: number) => `${(v * 100).toFixed(1)}%`;
/** ASR of no calls is undefined, not 0 %: the API says 0, the portal says so with a dash. */
const asrOf = (t: Pick<Totals, 'calls' | 'asr'>) => (t.calls ? percent(t.asr) : '—');

export function Traffic({ session }: { session: Session }) {
  const [range, setRange] = useState<Range>(() => presetRange('today'));
  const [summary, setSummary] = useState<Summary>();
  const [error, setError] = useState<unknown>();
  const [attempt, setAttempt] = useState(0);
  const bucket = bucketFor(range);

  useEffect(() => {
    let live = true;
    setSummary(undefined);
    setError(undefined);
    kazoo<Summary>(session, '/cdrs/summary', { ...rangeQuery(range), bucket })
      .then((res) => live && setSummary(res.data))
      .catch((err) => live && setError(err));
    return () => {
      live = false;
    };
  }, [session, range, bucket, attempt]);

  const charts = useMemo(() => {
    if (!summary) return undefined;
    const x = bucketStarts(range, bucket);
    const byStart = new Map(summary.buckets.map((b) => [Date.parse(b.start), b]));
    const calls = x.map((t) => byStart.get(t)?.calls ?? 0);
    const answered = x.map((t) => byStart.get(t)?.answered ?? 0);
    // A bucket without calls has no ratio: a gap in the line, not a fall to 0 %.
    const asr = x.map((t) => {
      const b = byStart.get(t);
      return b?.calls ? b.asr : null;
    });
    const volume: Series[] = [
      { label: 'Calls', values: calls, color: '#2563eb', bars: true, format: (v) => number.format(v) },
      { label: 'Answered', values: answered, color: '#16a34a', format: (v) => number.format(v) },
    ];
    const ratio: Series[] = [{ label: 'ASR', values: asr, color: '#9333ea', format: percent }];
    return { x, volume, ratio };
  }, [summary, range, bucket]);

  return (
    <section aria-labelledby="traffic-title" class="page">
      <header class="page-head">
        <h1 id="traffic-title">Traffic</h1>
      </header>
      <RangePicker range={range} onChange={setRange} />
      {error !== undefined && <Failure error={error} retry={() => setAttempt(attempt + 1)} />}
      {!summary && error === undefined && <Loading what="traffic" />}
      {summary && (
        <>
          <div class="stats">
            <Stat label="Calls" value={number.format(summary.calls)} />
            <Stat label="Answered" value={number.format(summary.answered)} />
            <Stat label="ASR" value={asrOf(summary)} />
            <Stat
              label="Billed minutes"
              value={number.format(Math.round(summary.billing_seconds / 6) / 10)}
            />
            <Stat label="Cost" value={formatUnits(summary.cost)} />
          </div>
          {summary.calls === 0 ? (
            <Empty title="No calls in this range.">Pick a longer range to see traffic.</Empty>
          ) : (
            charts && (
              <div class="charts" data-bucket={bucket}>
                <Chart title={`Calls per ${bucket}`} x={charts.x} series={charts.volume} />
                <Chart title={`Answer-seizure ratio per ${bucket}`} x={charts.x} series={charts.ratio} />
              </div>
            )
          )}
        </>
      )}
    </section>
  );
}

const Stat = ({ label, value }: { label: string; value: string }) => (
  <div class="stat">
    <span class="stat-label">{label}</span>
    <span class="stat-value" data-stat={label}>
      {value}
    </span>
  </div>
);
