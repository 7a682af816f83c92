// What a panel shows while it loads, when it has nothing, and when it failed.
import type { ComponentChildren } from 'preact';

export const Loading = ({ what }: { what: string }) => (
  <div class="state" role="status" aria-live="polite">
    <span class="spinner" aria-hidden="true" /> Loading {what}…
  </div>
);

export const Empty = ({ title, children }: { title: string; children?: ComponentChildren }) => (
  <div class="state empty">
    <strong>{title}</strong>
    {children && <p>{children}</p>}
  </div>
);

export const Failure = ({ error, retry }: { error: unknown; retry?: () => void }) => (
  <div class="state error" role="alert">
    <strong>Something went wrong.</strong>
    <p>{error instanceof Error ? error.message : String(error)}</p>
    {retry && (
      <button type="button" onClick={retry}>
        Try again
      </button>
    )}
  </div>
);
