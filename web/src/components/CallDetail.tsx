// A drawer with every field of one CDR and the other legs of its call.
import { useEffect, useRef, useState } from 'preact/hooks';
import { kazoo } from '../api';
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
}

function show(value: unknown): string {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'object') return JSON.stringify(value, null, 2);
  return String(value);
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
    setError(undefined);
    (async () => {
      const detail = (await kazoo<Doc>(session, `/cdrs/${encodeURIComponent(id)}`)).data;
      if (!live) return;
      setDoc(detail);
      const interaction = String(detail.interaction_id ?? detail.call_id ?? '');
      const all = interaction
        ? (await kazoo<Leg[]>(session, `/cdrs/legs/${encodeURIComponent(interaction)}`)).data
        : [];
      if (live) setLegs(all.filter((leg) => leg.id !== id));
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

  // Kazoo prints unix_timestamp (the call's start) as a string.
  const at =
    doc && typeof doc.unix_timestamp === 'string' ? new Date(Number(doc.unix_timestamp) * 1000) : undefined;
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
            {at && (
              <p class="when">
                <time dateTime={at.toISOString()} title={formatUtc(at)}>
                  {formatLocal(at)}
                </time>{' '}
                · {show(doc.caller_id_number)} → {show(doc.callee_id_number)}
              </p>
            )}
            <dl class="fields">
              {Object.keys(doc)
                .sort()
                .map((key) => (
                  <div key={key}>
                    <dt>{key}</dt>
                    <dd>{typeof doc[key] === 'object' ? <pre>{show(doc[key])}</pre> : show(doc[key])}</dd>
                  </div>
                ))}
            </dl>
            <h3>Other legs</h3>
            {legs.length === 0 ? (
              <p class="muted">This call has no other legs.</p>
            ) : (
              <ul class="legs">
                {legs.map((leg) => (
                  <li key={leg.id}>
                    <button type="button" onClick={() => onOpen(leg.id)} data-leg={leg.id}>
                      {leg.direction} · {leg.caller_id_number ?? '–'} → {leg.callee_id_number ?? '–'} ·{' '}
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
