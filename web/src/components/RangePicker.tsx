// Preset or custom time range, shown in the browser's time zone. A preset applies at once; a
// custom range is a draft until applied, and the highlight stays on the range in effect until
// then. On a page with filters the draft goes with them under that page's one Apply (`onDraft`);
// elsewhere the custom fields have an Apply of their own.
import { useState } from 'preact/hooks';
import {
  PRESETS,
  fromLocalInput,
  presetRange,
  rangeProblem,
  toLocalInput,
  type Preset,
  type Range,
} from '../time';

export function RangePicker({
  range,
  onChange,
  onDraft,
  problem: outerProblem,
}: {
  range: Range;
  onChange: (range: Range) => void;
  /** Given: the custom fields have no Apply; each edit (undefined: no draft) goes here instead. */
  onDraft?: (draft: Range | undefined) => void;
  /** What is wrong with the draft, when the page's Apply checked it. */
  problem?: string;
}) {
  const [from, setFrom] = useState(toLocalInput(range.from));
  const [to, setTo] = useState(toLocalInput(range.to));
  const [open, setOpen] = useState(range.preset === 'custom');
  const [problem, setProblem] = useState<string>();

  const draftOf = (f: string, t: string): Range => ({
    preset: 'custom',
    from: fromLocalInput(f),
    to: fromLocalInput(t),
  });
  const pick = (preset: Preset) => {
    if (preset === 'custom') {
      setOpen(true);
      onDraft?.(draftOf(from, to));
      return;
    }
    const next = presetRange(preset);
    setFrom(toLocalInput(next.from));
    setTo(toLocalInput(next.to));
    setProblem(undefined);
    setOpen(false);
    onDraft?.(undefined);
    onChange(next);
  };
  const edit = (f: string, t: string) => {
    setFrom(f);
    setTo(t);
    onDraft?.(draftOf(f, t));
  };
  const applyCustom = (e: Event) => {
    e.preventDefault();
    const next = draftOf(from, to);
    const why = rangeProblem(next);
    setProblem(why);
    if (!why) onChange(next);
  };

  const fields = (
    <>
      <MomentField label="From" name="from" value={from} onChange={(v) => edit(v, to)} />
      <MomentField label="To" name="to" value={to} onChange={(v) => edit(from, v)} />
    </>
  );
  const shownProblem = onDraft ? outerProblem : problem;
  return (
    <div class="range">
      <div class="segmented" role="radiogroup" aria-label="Time range">
        {PRESETS.map((p) => (
          <button
            type="button"
            role="radio"
            aria-checked={range.preset === p.value}
            class={[range.preset === p.value ? 'active' : '', p.value === 'custom' && open ? 'open' : '']
              .filter(Boolean)
              .join(' ')}
            onClick={() => pick(p.value)}
            data-preset={p.value}
          >
            {p.label}
          </button>
        ))}
      </div>
      {open &&
        (onDraft ? (
          <div class="custom-range" role="group" aria-label="Custom range">
            {fields}
          </div>
        ) : (
          <form class="custom-range" onSubmit={applyCustom} aria-label="Custom range">
            {fields}
            <button type="submit">Apply</button>
          </form>
        ))}
      {open && shownProblem && (
        <p class="field-error" role="alert">
          {shownProblem}
        </p>
      )}
    </div>
  );
}

/** A local date and time, as <input type="datetime-local"> edits it. */
function MomentField(props: {
  label: string;
  name: string;
  value: string;
  onChange: (value: string) => void;
}) {
  return (
    <label>
      {props.label}{' '}
      <input
        type="datetime-local"
        name={props.name}
        value={props.value}
        onInput={(e) => props.onChange(e.currentTarget.value)}
        required
      />
    </label>
  );
}
