// The signed-in account: its API key and id, kept in sessionStorage so they vanish with the tab.
export interface Session {
  apiKey: string;
  accountId: string;
}

const KEY = 'cdrex.session';

export function loadSession(): Session | undefined {
  try {
    const raw = sessionStorage.getItem(KEY);
    const parsed = raw ? (JSON.parse(raw) as Partial<Session>) : undefined;
    if (parsed?.apiKey && parsed.accountId) return { apiKey: parsed.apiKey, accountId: parsed.accountId };
  } catch {
    /* a corrupt entry is the same as none */
  }
  return undefined;
}

export function saveSession(session: Session): void {
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

export function clearSession(): void {
  sessionStorage.removeItem(KEY);
}
