// A drawer for one CDR, laid out for a person: when, who, result, money; the raw fields and the
// switch's variables in a "Technical" fold; and the other legs of the same call.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { kazoo } from '../api';
import { causeMeaning, sipResult, whoHungUp } from '../call-result';
import { formatDollars, formatUnits } from '../money';
import type { Session } from '../session';
import { formatDuration, formatLocal, formatUtc } from '../time';
import { Failure, Loading } from './States';

type Doc = Record<string, unknown>;

interface Leg {
  id: string;
  call_id: string;
  direction: string;
  caller_id_number?: string;
  callee_id_number?: string;
  unix_timestamp: string;
  duration_seconds: number;
  interaction_id?: string;
}

const str = (v: unknown): string | undefined =>
  typeof v === 'string' ? v || undefined : typeof v === 'number' ? String(v) : undefined;
const num = (v: unknown): number | undefined => {
  const n = typeof v === 'number' ? v : typeof v === 'string' && v !== '' ? Number(v) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

/** Start, answer and end of a CDR: Kazoo prints the start (unix_timestamp); the end is start plus
 * duration, and the answer is the end minus the billed seconds (as cdrex stores an upload's). */
function moments(doc: { unix_timestamp?: unknown; duration_seconds?: unknown; billing_seconds?: unknown }) {
  const start = num(doc.unix_timestamp);
  if (start === undefined) return {};
  const end = start + (num(doc.duration_seconds) ?? 0);
  const billed = num(doc.billing_seconds) ?? 0;
  return {
    start: new Date(start * 1000),
    end: new Date(end * 1000),
    answer: billed > 0 ? new Date((end - billed) * 1000) : undefined,
  };
}

/** Legs of the same call overlap in time; an interaction can also hold later calls (a callback,
 * a transfer to a queue minutes after), which are not this call's legs. */
function sameCall(doc: Doc, leg: Leg): boolean {
  const a = moments(doc);
  const b = moments(leg);
  if (!a.start || !a.end || !b.start || !b.end) return false;
  return b.start <= a.end && b.end >= a.start;
}

const Moment = ({ at }: { at?: Date }) =>
  at ? (
    <time dateTime={at.toISOString()} title={formatUtc(at)}>
      {formatLocal(at)}
    </time>
  ) : (
    <span class="muted">—</span>
  );

/** One group of labelled values; a value that is undefined is left out. */
function Group({ title, rows }: { title: string; rows: [string, ComponentChildren | undefined][] }) {
  const shown = rows.filter(([, v]) => v !== undefined && v !== '');
  return (
    <section class="group" aria-label={title}>
      <h3>{title}</h3>
      <dl class="fields">
        {shown.map(([label, value]) => (
          <div key={label} data-field={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}

function Details({ doc }: { doc: Doc }) {
  const { start, answer, end } = moments(doc);
  const billed = num(doc.billing_seconds) ?? 0;
  const duration = num(doc.duration_seconds);
  const cause = str(doc.hangup_cause);
  const meaning = cause ? causeMeaning(cause) : undefined;
  const caller = [str(doc.caller_id_number), str(doc.caller_id_name)].filter(Boolean).join(' · ');
  const callee = [str(doc.callee_id_number), str(doc.callee_id_name)].filter(Boolean).join(' · ');
  const trunk = [str(doc.trunk_name), str(doc.voice_out_trunk_id)].filter(Boolean).join(' · ');
  const rate = num(doc.rate);
  const direction = str(doc.call_direction) ?? str(doc.direction);
  return (
    <>
      <Group
        title="When"
        rows={[
          ['Start', <Moment at={start} />],
          ['Answer', billed > 0 ? <Moment at={answer} /> : <span class="muted">not answered</span>],
          ['End', <Moment at={end} />],
          ['Duration', duration !== undefined ? formatDuration(duration) : undefined],
        ]}
      />
      <Group
        title="Who"
        rows={[
          ['Direction', direction && (direction === 'inbound' ? 'Inbound' : 'Outbound')],
          ['Caller', caller || undefined],
          ['Callee', callee || undefined],
          ['DID', str(doc.did_number)],
          ['Trunk', trunk || undefined],
        ]}
      />
      <Group
        title="Result"
        rows={[
          ['Status', billed > 0 ? 'Answered' : 'Not answered'],
          [
            'Cause',
            cause && (
              <>
                <code>{cause}</code>
                {meaning && <span class="meaning">: {meaning}</span>}
              </>
            ),
          ],
          ['SIP', sipResult(doc.hangup_code, doc.disconnect_reason)],
          ['Hung up by', whoHungUp(doc)],
        ]}
      />
      <Group
        title="Money"
        rows={[
          ['Billed', formatDuration(billed)],
          ['Cost', doc.cost !== undefined && doc.cost !== '' ? formatUnits(String(doc.cost)) : undefined],
          ['Rate', rate ? `${formatDollars(rate)} / min` : undefined],
          ['Rate name', str(doc.rate_name)],
        ]}
      />
      <details class="technical">
        <summary>Technical</summary>
        <p class="muted">Every field as the API returns it; times in Gregorian or Unix seconds.</p>
        <dl class="fields raw">
          {Object.keys(doc)
            .sort()
            .map((key) => {
              const v = doc[key];
              return (
                <div key={key}>
                  <dt>{key}</dt>
                  <dd>
                    {v !== null && typeof v === 'object' ? (
                      <pre>{JSON.stringify(v, null, 2)}</pre>
                    ) : (
                      String(v)
                    )}
                  </dd>
                </div>
              );
            })}
        </dl>
      </details>
    </>
  );
}

export function CallDetail({
  session,
  id,
  onOpen,
  onClose,
}: {
  session: Session;
  id: string;
  onOpen: (id: string) => void;
  onClose: () => void;
}) {
  const [doc, setDoc] = useState<Doc>();
  const [legs, setLegs] = useState<Leg[]>([]);
  const [error, setError] = useState<unknown>();
  const close = useRef<HTMLButtonElement>(null);
  const opener = useRef<Element | null>(document.activeElement);

  useEffect(() => {
    let live = true;
    setDoc(undefined);
    setLegs([]);
    setError(undefined);
    (async () => {
      const detail = (await kazoo<Doc>(session, `/cdrs/${encodeURIComponent(id)}`)).data;
      if (!live) return;
      setDoc(detail);
      // The legs route takes the CDR's own id and finds its interaction (as Kazoo's load_legs).
      const all = (await kazoo<Leg[]>(session, `/cdrs/legs/${encodeURIComponent(id)}`)).data;
      if (live) setLegs(all.filter((leg) => leg.id !== id && sameCall(detail, leg)));
    })().catch((err) => live && setError(err));
    return () => {
      live = false;
    };
  }, [session, id]);

  useEffect(() => {
    close.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && onClose();
    document.addEventListener('keydown', onKey);
    const back = opener.current;
    return () => {
      document.removeEventListener('keydown', onKey);
      if (back instanceof HTMLElement) back.focus();
    };
  }, [onClose]);

  const start = doc ? moments(doc).start : undefined;
  return (
    <div class="drawer-backdrop" onClick={(e) => e.target === e.currentTarget && onClose()}>
      <aside class="drawer" role="dialog" aria-modal="true" aria-labelledby="detail-title">
        <header>
          <h2 id="detail-title">Call detail</h2>
          <button type="button" ref={close} onClick={onClose} aria-label="Close detail">
            ✕
          </button>
        </header>
        {error !== undefined && <Failure error={error} />}
        {!doc && error === undefined && <Loading what="the call" />}
        {doc && (
          <>
            <p class="when">
              <Moment at={start} /> · {str(doc.caller_id_number) ?? '–'} → {str(doc.callee_id_number) ?? '–'}
            </p>
            <Details doc={doc} />
            <h3>Other legs of this call</h3>
            {legs.length === 0 ? (
              <p class="muted">This call has no other legs.</p>
            ) : (
              <ul class="legs">
                {legs.map((leg) => (
                  <li key={leg.id}>
                    <button type="button" onClick={() => onOpen(leg.id)} data-leg={leg.id}>
                      {leg.direction} · {leg.caller_id_number || '–'} → {leg.callee_id_number || '–'} ·{' '}
                      {formatDuration(leg.duration_seconds)} ·{' '}
                      {formatLocal(new Date(Number(leg.unix_timestamp) * 1000))}
                    </button>
                  </li>
                ))}
              </ul>
            )}
          </>
        )}
      </aside>
    </div>
  );
}
