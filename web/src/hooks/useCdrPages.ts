// The calls of a range and filters, page by page on the Kazoo keyset API, with their total.
// A new search (new range, filters or session) starts over; an answer to an older search is
// dropped, so a slow first page cannot overwrite a newer one.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { kazoo } from '../api';
import { listQuery, type CdrRow, type Filters } from '../cdr-query';
import type { Session } from '../session';
import type { Range } from '../time';

const PAGE_SIZE = 100;

export interface CdrPages {
  rows: CdrRow[];
  /** The key of the next page; undefined when every row is loaded. */
  nextKey?: string;
  loading: boolean;
  error: unknown;
  /** Every call of the search, counted apart from the pages; undefined until known. */
  total?: number;
  /** Loads the page at `startKey`, or starts the search over without one. */
  load: (startKey?: string) => Promise<void>;
  /** Shows a failure of something else the page did (a download) where a page failure shows. */
  setError: (err: unknown) => void;
}

export function useCdrPages(session: Session, range: Range, filters: Filters): CdrPages {
  const [rows, setRows] = useState<CdrRow[]>([]);
  const [nextKey, setNextKey] = useState<string>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<unknown>();
  const [total, setTotal] = useState<number>();
  const generation = useRef(0);

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

  return { rows, nextKey, loading, error, total, load, setError };
}
