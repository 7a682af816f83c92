// The portal shell: sign-in gate, navigation, and hash routes (#/calls, #/traffic, #/exports), so
// any path cdrex serves index.html at works without server-side routing.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { whenUnauthorized } from './api';
import { Calls } from './pages/Calls';
import { Exports } from './pages/Exports';
import { SignIn } from './pages/SignIn';
import { Traffic } from './pages/Traffic';
import { clearSession, loadSession, saveSession, type Session } from './session';
import './styles.css';

const PAGES = [
  { route: 'calls', label: 'Calls', Page: Calls },
  { route: 'traffic', label: 'Traffic', Page: Traffic },
  { route: 'exports', label: 'Exports', Page: Exports },
] as const;

const currentRoute = () => location.hash.replace(/^#\/?/, '') || 'calls';

function App() {
  const [session, setSession] = useState<Session | undefined>(loadSession);
  const [route, setRoute] = useState(currentRoute);

  useEffect(() => {
    const onHash = () => setRoute(currentRoute());
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);

  const signOut = () => {
    clearSession();
    setSession(undefined);
  };
  useEffect(() => whenUnauthorized(signOut), []);

  if (!session) {
    return (
      <SignIn
        onSignedIn={(s) => {
          saveSession(s);
          setSession(s);
        }}
      />
    );
  }
  const page = PAGES.find((p) => p.route === route) ?? PAGES[0];
  return (
    <>
      <a
        class="skip"
        href="#main"
        onClick={(e) => {
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to content
      </a>
      <nav class="top" aria-label="Main">
        <span class="logo">cdrex</span>
        <ul>
          {PAGES.map((p) => (
            <li key={p.route}>
              <a href={`#/${p.route}`} aria-current={p === page ? 'page' : undefined}>
                {p.label}
              </a>
            </li>
          ))}
        </ul>
        <span class="account" title="Account id">
          {session.accountId}
        </span>
        <button type="button" onClick={signOut}>
          Sign out
        </button>
      </nav>
      <main id="main" tabIndex={-1}>
        <page.Page session={session} />
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
