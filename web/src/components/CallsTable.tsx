// The calls, newest first, in a box that scrolls on its own (so its header can stick); a row opens
// the call's detail by click or by Enter/Space. Reaching the end of the box asks for more.
import { useEffect, useRef } from 'preact/hooks';
import type { CdrRow } from '../cdr-query';
import { formatUnits } from '../money';
import { formatDuration, formatLocal, formatShort, formatUtc } from '../time';

export function CallsTable({
  rows,
  onOpen,
  next,
  onMore,
}: {
  rows: CdrRow[];
  onOpen: (id: string) => void;
  /** The key of the page to ask for when the end comes into view; undefined: none (or one is on its way). */
  next?: string;
  onMore: (key: string) => void;
}) {
  const sentinel = useRef<HTMLTableRowElement>(null);
  const wrap = useRef<HTMLDivElement>(null);

  // Infinite scroll: the scrolling box is the observer's root, the table's last row its target.
  useEffect(() => {
    const el = sentinel.current;
    if (!el || !next) return;
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting)) onMore(next);
      },
      { root: wrap.current },
    );
    observer.observe(el);
    return () => observer.disconnect();
  }, [next, onMore]);

  return (
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
          {rows.map((r) => (
            <CallRow key={r.id} row={r} onOpen={onOpen} />
          ))}
        </tbody>
        <tfoot>
          <tr ref={sentinel} class="sentinel" aria-hidden="true">
            <td colSpan={8} />
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

function CallRow({ row: r, onOpen }: { row: CdrRow; onOpen: (id: string) => void }) {
  const at = new Date(Number(r.unix_timestamp) * 1000);
  return (
    <tr
      tabIndex={0}
      data-id={r.id}
      aria-label={`Call ${r.caller_id_number ?? ''} to ${r.callee_id_number ?? ''}, ${formatLocal(at)}`}
      onClick={() => onOpen(r.id)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') {
          e.preventDefault();
          onOpen(r.id);
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
}
