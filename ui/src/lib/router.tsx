/** A small history-API router: the server answers every client route with index.html. */
import type { ComponentChildren, JSX } from "preact";
import { useEffect, useState } from "preact/hooks";

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  for (const listener of listeners) listener();
  if (!replace) window.scrollTo(0, 0);
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const [, bump] = useState(0);
  useEffect(() => {
    const listener = () => bump((n) => n + 1);
    listeners.add(listener);
    window.addEventListener("popstate", listener);
    return () => {
      listeners.delete(listener);
      window.removeEventListener("popstate", listener);
    };
  }, []);
  return { path: location.pathname, query: new URLSearchParams(location.search) };
}

/** Replaces the query string (filters) without a history entry per keystroke. */
export function setQuery(params: Record<string, string | number | null | undefined>) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") query.set(k, String(v));
  const search = query.toString();
  navigate(`${location.pathname}${search ? `?${search}` : ""}`, true);
}

/** Matches `/prompts/:name` style patterns; returns the decoded parameters. */
export function match(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split("/").filter(Boolean);
  const s = path.split("/").filter(Boolean);
  if (p.length !== s.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    const part = p[i]!;
    const seg = s[i]!;
    if (part.startsWith(":")) params[part.slice(1)] = decodeURIComponent(seg);
    else if (part !== seg) return null;
  }
  return params;
}

export function Link(props: JSX.HTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren }) {
  const { href, onClick, ...rest } = props;
  return (
    <a
      href={href}
      onClick={(event) => {
        if (typeof onClick === "function") onClick(event);
        if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
        event.preventDefault();
        navigate(href);
      }}
      {...rest}
    />
  );
}

export const href = {
  prompt: (name: string) => `/prompts/${encodeURIComponent(name)}`,
  execution: (id: string) => `/executions/${encodeURIComponent(id)}`,
  trace: (id: string) => `/traces/${encodeURIComponent(id)}`,
  playground: (name?: string, version?: number) => {
    const q = new URLSearchParams();
    if (name) q.set("prompt", name);
    if (version) q.set("version", String(version));
    const s = q.toString();
    return `/playground${s ? `?${s}` : ""}`;
  },
};
