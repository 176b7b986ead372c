import { useEffect, useMemo, useState } from "preact/hooks";
import { api, PromptLedgerError, unwrap, type Schemas } from "../lib/api";
import { Chip, Confirm, Empty, ErrorBox, Guarded, Loading, PageHeader, Show, useAsync, useNotice } from "../components";
import { formatTime, short, templateVariables } from "../lib/format";
import { parseUnified, sideBySide } from "../lib/diff";
import { Link, href } from "../lib/router";

type Version = Schemas["Version"];

export function PromptPage({ name }: { name: string }) {
  const prompt = useAsync(async () => unwrap(await api.GET("/v1/prompts/{name}", { params: { path: { name } } })), [name]);
  const versions = useAsync(
    async () => unwrap(await api.GET("/v1/prompts/{name}/versions", { params: { path: { name }, query: { limit: 200 } } })).data,
    [name],
  );
  const reload = () => {
    prompt.reload();
    versions.reload();
  };
  return (
    <Show state={prompt} what="Loading the prompt">
      {(p) => (
        <section>
          <PageHeader
            title={
              <>
                {p.name} {p.archived && <Chip status="archived" />}
              </>
            }
          >
            <Link class="button secondary" href={href.playground(p.name)}>
              Open in playground
            </Link>
            <ArchiveButton prompt={p} onDone={reload} />
          </PageHeader>
          <div class="columns">
            <div class="stack">
              <Metadata prompt={p} onSaved={prompt.reload} />
              <Labels prompt={p} versions={versions.data ?? []} onChanged={reload} />
            </div>
            <div class="stack">
              <NewVersion prompt={p} onCreated={reload} />
            </div>
          </div>
          <Show state={versions} what="Loading versions">
            {(list) => (
              <>
                <Timeline prompt={p} versions={list} onChanged={reload} />
                <DiffView name={p.name} versions={list} />
              </>
            )}
          </Show>
        </section>
      )}
    </Show>
  );
}

function ArchiveButton({ prompt, onDone }: { prompt: Schemas["Prompt"]; onDone: () => void }) {
  const [asking, setAsking] = useState(false);
  const notice = useNotice();
  const act = async () => {
    setAsking(false);
    try {
      const path = prompt.archived ? "/v1/prompts/{name}:unarchive" : "/v1/prompts/{name}:archive";
      unwrap(await api.POST(path, { params: { path: { name: prompt.name } } }));
      onDone();
    } catch (e) {
      notice.fail(e);
    }
  };
  return (
    <>
      <Guarded needs="write" class="button secondary" onClick={() => (prompt.archived ? act() : setAsking(true))}>
        {prompt.archived ? "Unarchive" : "Archive"}
      </Guarded>
      {notice.view}
      <Confirm open={asking} title={`Archive ${prompt.name}?`} confirmLabel="Archive" danger onConfirm={act} onCancel={() => setAsking(false)}>
        <p>Archived prompts leave the default list; their versions, labels and history stay, and unarchiving brings them back.</p>
      </Confirm>
    </>
  );
}

function Metadata({ prompt, onSaved }: { prompt: Schemas["Prompt"]; onSaved: () => void }) {
  const [description, setDescription] = useState(prompt.description);
  const [team, setTeam] = useState(prompt.owner_team ?? "");
  const notice = useNotice();
  useEffect(() => {
    setDescription(prompt.description);
    setTeam(prompt.owner_team ?? "");
  }, [prompt.id, prompt.updated_at]);
  return (
    <form
      class="card form"
      aria-labelledby="meta-title"
      onSubmit={async (e) => {
        e.preventDefault();
        try {
          unwrap(
            await api.PATCH("/v1/prompts/{name}", {
              params: { path: { name: prompt.name } },
              body: { description, owner_team: team.trim() ? team.trim() : null },
            }),
          );
          notice.ok("Saved.");
          onSaved();
        } catch (error) {
          notice.fail(error);
        }
      }}
    >
      <h2 id="meta-title">Details</h2>
      <dl class="facts">
        <dt>Mode</dt>
        <dd>{prompt.mode}</dd>
        <dt>Active version</dt>
        <dd>{prompt.active_version ? `v${prompt.active_version.version}` : "none"}</dd>
        <dt>Created</dt>
        <dd>{formatTime(prompt.created_at)}</dd>
        <dt>Updated</dt>
        <dd>{formatTime(prompt.updated_at)}</dd>
      </dl>
      <label>
        Description
        <textarea rows={2} value={description} onInput={(e) => setDescription((e.target as HTMLTextAreaElement).value)} />
      </label>
      <label>
        Owner team
        <input value={team} onInput={(e) => setTeam((e.target as HTMLInputElement).value)} />
      </label>
      {notice.view}
      <div class="actions">
        <Guarded needs="write" type="submit">
          Save details
        </Guarded>
      </div>
    </form>
  );
}

function Labels({ prompt, versions, onChanged }: { prompt: Schemas["Prompt"]; versions: Version[]; onChanged: () => void }) {
  const [label, setLabel] = useState("production");
  const [target, setTarget] = useState<number | "">("");
  const [asking, setAsking] = useState(false);
  const notice = useNotice();
  const existing = prompt.labels.find((l) => l.label === label);
  useEffect(() => {
    if (target === "" && versions[0]) setTarget(versions[0].version);
  }, [versions]);
  const move = async () => {
    setAsking(false);
    if (target === "") return;
    try {
      unwrap(await api.PUT("/v1/prompts/{name}/labels/{label}", { params: { path: { name: prompt.name, label } }, body: { version: target } }));
      notice.ok(`${label} now points to v${target}.`);
      onChanged();
    } catch (e) {
      notice.fail(e);
    }
  };
  return (
    <div class="card" aria-labelledby="labels-title" role="region">
      <h2 id="labels-title">Labels</h2>
      {prompt.labels.length === 0 ? (
        <p class="muted">No labels yet. Point an environment such as production at a version below.</p>
      ) : (
        <table class="table compact" aria-label="Labels">
          <thead>
            <tr>
              <th scope="col">Label</th>
              <th scope="col">Version</th>
              <th scope="col">Moved by</th>
              <th scope="col">When</th>
            </tr>
          </thead>
          <tbody>
            {prompt.labels.map((l) => (
              <tr key={l.label}>
                <td>
                  <span class="label-tag">{l.label}</span>
                </td>
                <td>v{l.version}</td>
                <td>{l.updated_by ?? "–"}</td>
                <td>{formatTime(l.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        class="inline-form"
        aria-label="Move a label"
        onSubmit={(e) => {
          e.preventDefault();
          setAsking(true);
        }}
      >
        <label>
          Label
          <input list="label-names" value={label} required pattern="[a-z0-9][a-z0-9_.\-]*" onInput={(e) => setLabel((e.target as HTMLInputElement).value)} />
        </label>
        <datalist id="label-names">
          {[...new Set(["production", "staging", "development", ...prompt.labels.map((l) => l.label)])].map((l) => (
            <option key={l} value={l} />
          ))}
        </datalist>
        <label>
          To version
          <select value={String(target)} onChange={(e) => setTarget(Number((e.target as HTMLSelectElement).value))}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version} {v.message ? `– ${v.message}` : ""}
              </option>
            ))}
          </select>
        </label>
        <Guarded needs="write" type="submit" disabled={!versions.length || existing?.version === target}>
          Move label
        </Guarded>
      </form>
      {notice.view}
      <Confirm open={asking} title={`Move ${label}?`} confirmLabel={`Move ${label} to v${target}`} onConfirm={move} onCancel={() => setAsking(false)}>
        <p>
          {existing ? (
            <>
              <strong>{label}</strong> points to v{existing.version} now. Runs that ask for {label} will use{" "}
              <strong>v{target}</strong> from the next request
              {typeof target === "number" && target < existing.version ? " (a roll back)" : ""}.
            </>
          ) : (
            <>
              <strong>{label}</strong> is new: it will point to <strong>v{target}</strong>.
            </>
          )}
        </p>
      </Confirm>
    </div>
  );
}

function Timeline({ prompt, versions, onChanged }: { prompt: Schemas["Prompt"]; versions: Version[]; onChanged: () => void }) {
  const notice = useNotice();
  const active = prompt.active_version?.version ?? null;
  const labelsOf = (v: number) => prompt.labels.filter((l) => l.version === v).map((l) => l.label);
  if (versions.length === 0)
    return (
      <div class="card">
        <h2>Versions</h2>
        <Empty title="No versions yet.">Write the first one in the editor above.</Empty>
      </div>
    );
  return (
    <div class="card" role="region" aria-labelledby="timeline-title">
      <h2 id="timeline-title">Versions</h2>
      {notice.view}
      <ol class="timeline">
        {versions.map((v) => (
          <li key={v.id} class={v.version === active ? "current" : ""}>
            <div class="timeline-head">
              <strong>v{v.version}</strong> <Chip status={v.status} />
              {labelsOf(v.version).map((l) => (
                <span key={l} class="label-tag">
                  {l}
                </span>
              ))}
              <span class="muted">
                {formatTime(v.created_at)} by {v.created_by ?? "unknown"}
              </span>
            </div>
            {v.message && <p class="timeline-message">{v.message}</p>}
            <p class="small">
              <span class="muted">checksum</span> <code title={v.checksum_hash}>{short(v.checksum_hash, 12)}</code>
              {" · "}
              <span class="muted">variables</span> {v.variables.length ? v.variables.map((x) => <code key={x}>{x}</code>) : "none"}
            </p>
            <details>
              <summary>Template</summary>
              <pre class="code">{v.template ?? JSON.stringify(v.messages, null, 2)}</pre>
            </details>
            <div class="actions left">
              {v.version !== active && (
                <Guarded
                  needs="write"
                  class="button secondary small"
                  onClick={async () => {
                    try {
                      unwrap(await api.POST("/v1/prompts/{name}/versions/{version}:activate", { params: { path: { name: prompt.name, version: v.version } } }));
                      notice.ok(`v${v.version} is active.`);
                      onChanged();
                    } catch (e) {
                      notice.fail(e);
                    }
                  }}
                >
                  {active !== null && v.version < active ? `Roll back to v${v.version}` : `Activate v${v.version}`}
                </Guarded>
              )}
              <Link class="button secondary small" href={href.playground(prompt.name, v.version)}>
                Try v{v.version}
              </Link>
            </div>
          </li>
        ))}
      </ol>
    </div>
  );
}

function NewVersion({ prompt, onCreated }: { prompt: Schemas["Prompt"]; onCreated: () => void }) {
  const [template, setTemplate] = useState(prompt.active_version?.template ?? "");
  const [message, setMessage] = useState("");
  const [activate, setActivate] = useState(false);
  const [syntax, setSyntax] = useState<{ line?: number; column?: number; message: string } | null>(null);
  const notice = useNotice();
  const variables = useMemo(() => templateVariables(template), [template]);
  return (
    <form
      class="card form"
      aria-labelledby="editor-title"
      onSubmit={async (e) => {
        e.preventDefault();
        setSyntax(null);
        notice.clear();
        try {
          const result = await api.POST("/v1/prompts/{name}/versions", {
            params: { path: { name: prompt.name } },
            body: { template, message: message || undefined, status: activate ? "active" : "draft" },
          });
          const version = unwrap(result);
          notice.ok(result.response.status === 201 ? `Saved v${version.version}.` : `Unchanged: this is v${version.version} already.`);
          setMessage("");
          onCreated();
        } catch (error) {
          const d = error instanceof PromptLedgerError ? error.details : null;
          if (d && (typeof d.line === "number" || error instanceof PromptLedgerError && error.code === "template_syntax")) {
            setSyntax({ line: d.line as number | undefined, column: d.column as number | undefined, message: String(d.message ?? (error as Error).message) });
          } else notice.fail(error);
        }
      }}
    >
      <h2 id="editor-title">New version</h2>
      <label for="template-editor">Template (Jinja)</label>
      <textarea
        id="template-editor"
        class="mono editor"
        rows={8}
        spellcheck={false}
        value={template}
        aria-invalid={syntax ? true : undefined}
        aria-describedby="template-help"
        onInput={(e) => {
          setTemplate((e.target as HTMLTextAreaElement).value);
          setSyntax(null);
        }}
      />
      <p id="template-help" class="small">
        Variables this template reads:{" "}
        {variables.length ? variables.map((v) => <code key={v} class="var">{v}</code>) : <span class="muted">none</span>}
      </p>
      {syntax && (
        <p class="field-error syntax-error" role="alert">
          Syntax error{syntax.line ? ` at line ${syntax.line}` : ""}
          {syntax.column ? `, column ${syntax.column}` : ""}: {syntax.message}
        </p>
      )}
      <label>
        Message
        <input value={message} placeholder="What changed and why" onInput={(e) => setMessage((e.target as HTMLInputElement).value)} />
      </label>
      <label class="check">
        <input type="checkbox" checked={activate} onChange={(e) => setActivate((e.target as HTMLInputElement).checked)} /> Activate on save
      </label>
      {notice.view}
      <div class="actions">
        <Guarded needs="write" type="submit" disabled={!template.trim()}>
          Save version
        </Guarded>
      </div>
    </form>
  );
}

function DiffView({ name, versions }: { name: string; versions: Version[] }) {
  const [from, setFrom] = useState<number | null>(versions[1]?.version ?? null);
  const [to, setTo] = useState<number | null>(versions[0]?.version ?? null);
  const [mode, setMode] = useState<"unified" | "split">("split");
  useEffect(() => {
    setFrom(versions[1]?.version ?? null);
    setTo(versions[0]?.version ?? null);
  }, [versions.length]);
  const diff = useAsync(
    async () => (from && to ? unwrap(await api.GET("/v1/prompts/{name}/diff", { params: { path: { name }, query: { from, to } } })) : null),
    [name, from, to, versions.length],
  );
  if (versions.length < 2) return null;
  const pick = (set: (n: number) => void) => (e: Event) => set(Number((e.target as HTMLSelectElement).value));
  return (
    <div class="card" role="region" aria-labelledby="diff-title">
      <h2 id="diff-title">Compare versions</h2>
      <div class="inline-form">
        <label>
          From
          <select value={String(from)} onChange={pick(setFrom)}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
          </select>
        </label>
        <label>
          To
          <select value={String(to)} onChange={pick(setTo)}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
          </select>
        </label>
        <fieldset class="segmented">
          <legend class="visually-hidden">Layout</legend>
          <label class="check">
            <input type="radio" name="diff-mode" checked={mode === "split"} onChange={() => setMode("split")} /> Side by side
          </label>
          <label class="check">
            <input type="radio" name="diff-mode" checked={mode === "unified"} onChange={() => setMode("unified")} /> Unified
          </label>
        </fieldset>
      </div>
      {diff.error ? (
        <ErrorBox error={diff.error} onRetry={diff.reload} />
      ) : !diff.data ? (
        <Loading what="Comparing" />
      ) : (
        <DiffBody diff={diff.data} mode={mode} />
      )}
    </div>
  );
}

function DiffBody({ diff, mode }: { diff: Schemas["Diff"]; mode: "unified" | "split" }) {
  const lines = parseUnified(diff.diff);
  const config = diff.config_changed && (
    <p class="small">
      Config changed: <code>{JSON.stringify(diff.config_from)}</code> → <code>{JSON.stringify(diff.config_to)}</code>
    </p>
  );
  if (!diff.body_changed)
    return (
      <div class="diff" data-testid="diff">
        <p class="muted">The templates are identical.</p>
        {config}
      </div>
    );
  return (
    <div class="diff" data-testid="diff">
      {config}
      {mode === "unified" ? (
        <table class="diff-table" aria-label={`Changes from v${diff.from.version} to v${diff.to.version}`}>
          <thead class="visually-hidden">
            <tr>
              <th scope="col">Old line</th>
              <th scope="col">New line</th>
              <th scope="col">Text</th>
            </tr>
          </thead>
          <tbody>
            {lines
              .filter((l) => l.kind !== "meta")
              .map((l, i) => (
                <tr key={i} class={`d-${l.kind}`}>
                  <td class="ln">{l.oldNo ?? ""}</td>
                  <td class="ln">{l.newNo ?? ""}</td>
                  <td class="dt">
                    <span class="sign" aria-hidden="true">
                      {l.kind === "add" ? "+" : l.kind === "del" ? "−" : " "}
                    </span>
                    {l.kind === "add" && <span class="visually-hidden">added: </span>}
                    {l.kind === "del" && <span class="visually-hidden">removed: </span>}
                    {l.text}
                  </td>
                </tr>
              ))}
          </tbody>
        </table>
      ) : (
        <table class="diff-table split" aria-label={`v${diff.from.version} and v${diff.to.version} side by side`}>
          <thead>
            <tr>
              <th scope="col" class="ln">
                <span class="visually-hidden">Line</span>
              </th>
              <th scope="col">v{diff.from.version}</th>
              <th scope="col" class="ln">
                <span class="visually-hidden">Line</span>
              </th>
              <th scope="col">v{diff.to.version}</th>
            </tr>
          </thead>
          <tbody>
            {sideBySide(lines).map((row, i) =>
              row.hunk ? (
                <tr key={i} class="d-hunk">
                  <td colSpan={4}>{row.hunk}</td>
                </tr>
              ) : (
                <tr key={i}>
                  <td class="ln">{row.left?.oldNo ?? ""}</td>
                  <td class={`dt ${row.left ? (row.left.kind === "del" ? "d-del" : "") : "d-none"}`}>{row.left?.text ?? ""}</td>
                  <td class="ln">{row.right?.newNo ?? ""}</td>
                  <td class={`dt ${row.right ? (row.right.kind === "add" ? "d-add" : "") : "d-none"}`}>{row.right?.text ?? ""}</td>
                </tr>
              ),
            )}
          </tbody>
        </table>
      )}
    </div>
  );
}
