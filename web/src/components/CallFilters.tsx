// The Calls page's filter form: a range and filters that map one to one onto Kazoo filter_
// parameters. Edits are a draft until Apply, which takes a custom range and the filters together;
// a preset range applies at once.
import { useState } from 'preact/hooks';
import { NO_FILTERS, type Filters } from '../cdr-query';
import { rangeProblem, type Range } from '../time';
import { RangePicker } from './RangePicker';

const CAUSES = [
  'NORMAL_CLEARING',
  'USER_BUSY',
  'NO_ANSWER',
  'CALL_REJECTED',
  'ORIGINATOR_CANCEL',
  'NO_ROUTE_DESTINATION',
  'UNALLOCATED_NUMBER',
];

export function CallFilters({
  range,
  onRange,
  onFilters,
}: {
  range: Range;
  onRange: (range: Range) => void;
  onFilters: (filters: Filters) => void;
}) {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [draftRange, setDraftRange] = useState<Range>();
  const [rangeError, setRangeError] = useState<string>();

  const apply = (e: Event) => {
    e.preventDefault();
    if (draftRange) {
      const why = rangeProblem(draftRange);
      setRangeError(why);
      if (why) return;
      onRange(draftRange);
    }
    onFilters({ ...draft });
  };
  const clear = () => {
    setDraft(NO_FILTERS);
    onFilters(NO_FILTERS);
  };
  const set = (key: keyof Filters) => (e: Event) =>
    setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).value });

  return (
    <form class="filters" onSubmit={apply} aria-label="Filters">
      <RangePicker
        range={range}
        onChange={(next) => {
          setRangeError(undefined);
          onRange(next);
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
        <button type="button" onClick={clear}>
          Clear
        </button>
      </div>
    </form>
  );
}
