/** Shared pieces: loading/error/empty states, status chips, the confirmation dialog, async data. */
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { errorMessage } from "./lib/api";
import { navigate, useLocation } from "./lib/router";
import { session, type Scope } from "./lib/session";

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p class="state loading" role="status" aria-live="polite">
      <span class="spinner" aria-hidden="true" /> {what}…
    </p>
  );
}

export function ErrorBox({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <strong>Something went wrong.</strong> <span class="message">{errorMessage(error)}</span>
      {onRetry && (
        <button type="button" class="link" onClick={onRetry}>
          Retry
        </button>
      )}
    </div>
  );
}

export function Empty({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="state empty">
      <p class="empty-title">{title}</p>
      {children && <div class="empty-body">{children}</div>}
    </div>
  );
}

const chipKinds: Record<string, string> = {
  succeeded: "ok",
  ok: "ok",
  active: "ok",
  failed: "bad",
  error: "bad",
  canceled: "muted",
  archived: "muted",
  inactive: "muted",
  queued: "wait",
  running: "wait",
  draft: "info",
};

export function Chip({ status, label }: { status: string; label?: string }) {
  return <span class={`chip chip-${chipKinds[status] ?? "info"}`}>{label ?? status}</span>;
}

/** A button that is disabled, with the reason, when the key's scope is too narrow. */
export function Guarded(props: {
  needs: Scope;
  onClick?: () => void;
  type?: "button" | "submit";
  class?: string;
  disabled?: boolean;
  children: ComponentChildren;
  label?: string;
}) {
  const allowed = session.can(props.needs);
  return (
    <button
      type={props.type ?? "button"}
      class={props.class ?? "button"}
      disabled={!allowed || props.disabled}
      title={allowed ? undefined : `Needs a key with the ${props.needs} scope`}
      aria-label={props.label}
      onClick={props.onClick}
    >
      {props.children}
    </button>
  );
}

/** A modal confirmation (the native <dialog>): resolves the action on "Confirm". */
export function Confirm(props: {
  open: boolean;
  title: string;
  children: ComponentChildren;
  confirmLabel: string;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (props.open && !dialog.open) dialog.showModal();
    if (!props.open && dialog.open) dialog.close();
  }, [props.open]);
  return (
    <dialog ref={ref} class="dialog" aria-labelledby="confirm-title" onClose={props.onCancel}>
      <h2 id="confirm-title">{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      <div class="actions">
        <button type="button" class="button secondary" onClick={props.onCancel}>
          Cancel
        </button>
        <button type="button" class={`button ${props.danger ? "danger" : ""}`} onClick={props.onConfirm}>
          {props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; keeps the last data while reloading. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data?: T; error?: unknown; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, loading: false }),
      (error) => live && setState({ error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { data: state.data, error: state.error, loading: state.loading, reload };
}

/** The standard wrapper: loading, then the error or the content. */
export function Show<T>({ state, children, what }: { state: Async<T>; children: (data: T) => ComponentChildren; what?: string }) {
  if (state.data !== undefined) return <>{children(state.data)}</>;
  if (state.error) return <ErrorBox error={state.error} onRetry={state.reload} />;
  return <Loading what={what} />;
}

export function PageHeader({ title, children }: { title: ComponentChildren; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <h1>{title}</h1>
      {children && <div class="page-actions">{children}</div>}
    </header>
  );
}

/** "Saved", "Failed: ..." after an action, announced politely. */
export function useNotice() {
  const [notice, setNotice] = useState<{ kind: "ok" | "bad"; text: string } | null>(null);
  const view = notice && (
    <p class={`notice notice-${notice.kind}`} role={notice.kind === "bad" ? "alert" : "status"}>
      {notice.text}
    </p>
  );
  return {
    view,
    ok: (text: string) => setNotice({ kind: "ok", text }),
    fail: (error: unknown) => setNotice({ kind: "bad", text: errorMessage(error) }),
    clear: () => setNotice(null),
  };
}

/** The page's cursor, kept in the URL (`?cursor=`), and the cursors walked
 * to reach it, so "Previous" can step back. Give it to {@link Pager}. */
export function useCursorPaging() {
  const { query } = useLocation();
  const [trail, setTrail] = useState<string[]>([]);
  return { cursor: query.get("cursor") ?? undefined, trail, setTrail };
}

export type CursorPaging = ReturnType<typeof useCursorPaging>;

export function Pager({ paging, next }: { paging: CursorPaging; next: string | null }) {
  const { cursor, trail, setTrail } = paging;
  return (
    <nav class="pager" aria-label="Pages">
      <button
        type="button"
        class="button secondary"
        disabled={trail.length === 0 && !cursor}
        onClick={() => {
          const previous = trail.slice(0, -1);
          setTrail(previous);
          pageTo(previous[previous.length - 1]);
        }}
      >
        Previous
      </button>
      <button
        type="button"
        class="button secondary"
        disabled={!next}
        onClick={() => {
          if (!next) return;
          setTrail([...trail, next]);
          pageTo(next);
        }}
      >
        Next
      </button>
    </nav>
  );
}

/** The same page and filters at another cursor (none: the first page). */
function pageTo(cursor: string | undefined) {
  const q = new URLSearchParams(location.search);
  if (cursor) q.set("cursor", cursor);
  else q.delete("cursor");
  const s = q.toString();
  navigate(`${location.pathname}${s ? `?${s}` : ""}`, true);
}
