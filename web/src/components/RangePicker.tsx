// Preset or custom time range, shown in the browser's time zone.
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

export function RangePicker({ range, onChange }: { range: Range; onChange: (range: Range) => void }) {
  const [from, setFrom] = useState(toLocalInput(range.from));
  const [to, setTo] = useState(toLocalInput(range.to));
  const [problem, setProblem] = useState<string>();

  const pick = (preset: Preset) => {
    if (preset === 'custom') {
      onChange({ ...range, preset });
      return;
    }
    const next = presetRange(preset);
    setFrom(toLocalInput(next.from));
    setTo(toLocalInput(next.to));
    setProblem(undefined);
    onChange(next);
  };
  const applyCustom = (e: Event) => {
    e.preventDefault();
    const next: Range = { preset: 'custom', from: fromLocalInput(from), to: fromLocalInput(to) };
    const why = rangeProblem(next);
    setProblem(why);
    if (!why) onChange(next);
  };

  return (
    <div class="range">
      <div class="segmented" role="radiogroup" aria-label="Time range">
        {PRESETS.map((p) => (
          <button
            type="button"
            role="radio"
            aria-checked={range.preset === p.value}
            class={range.preset === p.value ? 'active' : ''}
            onClick={() => pick(p.value)}
            data-preset={p.value}
          >
            {p.label}
          </button>
        ))}
      </div>
      {range.preset === 'custom' && (
        <form class="custom-range" onSubmit={applyCustom}>
          <MomentField label="From" name="from" value={from} onChange={setFrom} />
          <MomentField label="To" name="to" value={to} onChange={setTo} />
          <button type="submit">Apply</button>
          {problem && (
            <p class="field-error" role="alert">
              {problem}
            </p>
          )}
        </form>
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
