/**
 * The signed-in key, kept in sessionStorage only (never in a URL or a
 * log), and what its scope allows.
 */
import { useEffect, useState } from "preact/hooks";

export type Scope = "read" | "write" | "admin";
const KEY = "promptledger.key";
const SCOPE = "promptledger.scope";
const rank: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

function load(): { key: string; scope: Scope } | null {
  try {
    const key = sessionStorage.getItem(KEY);
    const scope = sessionStorage.getItem(SCOPE) as Scope | null;
    return key && scope && scope in rank ? { key, scope } : null;
  } catch {
    return null;
  }
}

let current = load();
const listeners = new Set<() => void>();
function set(next: typeof current) {
  current = next;
  for (const listener of listeners) listener();
}

/** Re-renders the caller when the session changes; returns it. */
export function useSession() {
  const [, bump] = useState(0);
  useEffect(() => {
    const listener = () => bump((n) => n + 1);
    listeners.add(listener);
    return () => void listeners.delete(listener);
  }, []);
  return current;
}

export const session = {
  key: () => current?.key ?? null,
  scope: () => current?.scope ?? null,
  /** Whether the key's scope covers `needed` (admin ⊃ write ⊃ read). */
  can: (needed: Scope) => {
    const scope = current?.scope;
    return scope ? rank[scope] >= rank[needed] : false;
  },
  signIn(key: string, scope: Scope) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(SCOPE, scope);
    set({ key, scope });
  },
  signOut() {
    sessionStorage.removeItem(KEY);
    sessionStorage.removeItem(SCOPE);
    set(null);
  },
};
