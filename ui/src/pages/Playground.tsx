import { useEffect, useState } from "preact/hooks";
import { api, ledger, unwrap, type Schemas } from "../lib/api";
import { Chip, Empty, ErrorBox, Guarded, PageHeader, Show, useAsync } from "../components";
import { formatCost, formatCount, formatDuration } from "../lib/format";
import { Link, href, setQuery, useLocation } from "../lib/router";

type Provider = "mock" | "openai" | "anthropic";
type Slot = { version: number | null; rendered?: Schemas["Rendered"]; run?: Schemas["Execution"]; error?: unknown; busy?: boolean };

export function PlaygroundPage() {
  const { query } = useLocation();
  const name = query.get("prompt") ?? "";
  const prompts = useAsync(async () => unwrap(await api.GET("/v1/prompts", { params: { query: { limit: 200 } } })).data, []);
  const versions = useAsync(
    async () => (name ? unwrap(await api.GET("/v1/prompts/{name}/versions", { params: { path: { name }, query: { limit: 200 } } })).data : []),
    [name],
  );
  const models = useAsync(async () => unwrap(await api.GET("/v1/models")).data, []);
  const wanted = Number(query.get("version")) || null;
  const [slots, setSlots] = useState<Slot[]>([{ version: wanted }]);
  const [variables, setVariables] = useState<Record<string, string>>({});
  const [model, setModel] = useState<{ provider: Provider; model_name: string }>({ provider: "mock", model_name: "mock-1" });
  const [params, setParams] = useState('{"temperature": 0.2}');
  const [paramsError, setParamsError] = useState<string | null>(null);

  useEffect(() => {
    const list = versions.data;
    if (!list?.length) return;
    const first = wanted && list.some((v) => v.version === wanted) ? wanted : (list.find((v) => v.status === "active") ?? list[0]!).version;
    setSlots((s) => [{ version: first }, ...(s.length > 1 ? [{ version: list[1]?.version ?? first }] : [])]);
  }, [versions.data, wanted]);

  const versionOf = (n: number | null) => versions.data?.find((v) => v.version === n);
  const needed = [...new Set(slots.flatMap((s) => versionOf(s.version)?.variables ?? []))];
  const update = (i: number, patch: Partial<Slot>) => setSlots((all) => all.map((s, j) => (j === i ? { ...s, ...patch } : s)));

  const values = () => Object.fromEntries(needed.map((k) => [k, variables[k] ?? ""]));
  const parsedParams = (): Record<string, unknown> | null => {
    try {
      const p = params.trim() ? JSON.parse(params) : {};
      if (typeof p !== "object" || Array.isArray(p) || p === null) throw new Error("params must be a JSON object");
      setParamsError(null);
      return p;
    } catch (e) {
      setParamsError((e as Error).message);
      return null;
    }
  };
  const render = async (i: number) => {
    const slot = slots[i]!;
    update(i, { busy: true, error: undefined });
    try {
      const rendered = unwrap(
        await api.POST("/v1/prompts/{name}:render", { params: { path: { name } }, body: { version: slot.version ?? undefined, variables: values() } }),
      );
      update(i, { rendered, busy: false });
    } catch (error) {
      update(i, { error, busy: false });
    }
  };
  const run = async (i: number) => {
    const p = parsedParams();
    if (!p) return;
    const slot = slots[i]!;
    update(i, { busy: true, error: undefined, run: undefined });
    try {
      const result = await ledger.run({ prompt_name: name, version: slot.version ?? undefined, variables: values(), model, params: p, mode: "sync" });
      update(i, { run: result, busy: false });
    } catch (error) {
      update(i, { error, busy: false });
    }
  };

  return (
    <section>
      <PageHeader title="Playground" />
      <Show state={prompts} what="Loading prompts">
        {(list) =>
          list.length === 0 ? (
            <Empty title="No prompts yet.">
              <p>
                <Link href="/prompts">Create a prompt</Link> first, then try it here.
              </p>
            </Empty>
          ) : (
            <form class="card form" aria-label="Playground settings" onSubmit={(e) => e.preventDefault()}>
              <div class="grid3">
                <label>
                  Prompt
                  <select value={name} onChange={(e) => setQuery({ prompt: (e.target as HTMLSelectElement).value })}>
                    <option value="">Choose a prompt…</option>
                    {list.map((p) => (
                      <option key={p.id} value={p.name}>
                        {p.name}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  Provider
                  <select value={model.provider} onChange={(e) => setModel({ ...model, provider: (e.target as HTMLSelectElement).value as Provider })}>
                    {["mock", "openai", "anthropic"].map((p) => (
                      <option key={p} value={p}>
                        {p}
                      </option>
                    ))}
                  </select>
                </label>
                <label>
                  Model
                  <input list="model-names" value={model.model_name} onInput={(e) => setModel({ ...model, model_name: (e.target as HTMLInputElement).value })} />
                  <datalist id="model-names">
                    {(models.data ?? [])
                      .filter((m) => m.provider === model.provider)
                      .map((m) => (
                        <option key={m.id} value={m.model_name} />
                      ))}
                  </datalist>
                </label>
              </div>
              {needed.length > 0 && (
                <fieldset class="vars">
                  <legend>Variables</legend>
                  <div class="grid2">
                    {needed.map((k) => (
                      <label key={k}>
                        <code>{k}</code>
                        <textarea rows={1} name={`var-${k}`} value={variables[k] ?? ""} onInput={(e) => setVariables({ ...variables, [k]: (e.target as HTMLTextAreaElement).value })} />
                      </label>
                    ))}
                  </div>
                </fieldset>
              )}
              <label>
                Params (JSON)
                <input class="mono" value={params} aria-invalid={paramsError ? true : undefined} onInput={(e) => setParams((e.target as HTMLInputElement).value)} />
              </label>
              {paramsError && (
                <p class="field-error" role="alert">
                  {paramsError}
                </p>
              )}
              <label class="check">
                <input
                  type="checkbox"
                  checked={slots.length > 1}
                  disabled={(versions.data?.length ?? 0) < 1}
                  onChange={(e) =>
                    setSlots((s) => ((e.target as HTMLInputElement).checked ? [s[0]!, { version: versions.data?.[1]?.version ?? s[0]!.version }] : [s[0]!]))
                  }
                />{" "}
                Compare two versions side by side
              </label>
            </form>
          )
        }
      </Show>
      {name && versions.error ? <ErrorBox error={versions.error} onRetry={versions.reload} /> : null}
      {name && versions.data && (
        <div class={slots.length > 1 ? "compare" : ""}>
          {slots.map((slot, i) => (
            <div class="card" key={i} role="region" aria-label={`Version slot ${i + 1}`}>
              <div class="inline-form">
                <label>
                  Version
                  <select value={String(slot.version ?? "")} onChange={(e) => update(i, { version: Number((e.target as HTMLSelectElement).value), rendered: undefined, run: undefined })}>
                    {versions.data!.map((v) => (
                      <option key={v.version} value={v.version}>
                        v{v.version} ({v.status})
                      </option>
                    ))}
                  </select>
                </label>
                <button type="button" class="button secondary" disabled={slot.busy} onClick={() => render(i)}>
                  Render
                </button>
                <Guarded needs="write" disabled={slot.busy} onClick={() => run(i)}>
                  {slot.busy ? "Running…" : `Run v${slot.version ?? ""}`}
                </Guarded>
              </div>
              {slot.error ? <ErrorBox error={slot.error} /> : null}
              {slot.rendered && (
                <>
                  <h2 class="h3">Rendered prompt</h2>
                  <pre class="code">{slot.rendered.rendered ?? JSON.stringify(slot.rendered.messages, null, 2)}</pre>
                </>
              )}
              {slot.run && <RunResult run={slot.run} />}
            </div>
          ))}
        </div>
      )}
    </section>
  );
}

function RunResult({ run }: { run: Schemas["Execution"] }) {
  return (
    <div class="run-result" data-testid="run-result">
      <h2 class="h3">
        Output <Chip status={run.status} />
      </h2>
      {run.error && <p class="field-error">{run.error.message}</p>}
      <pre class="code output">{run.response_text ?? "(no output)"}</pre>
      <dl class="facts inline">
        <dt>Tokens</dt>
        <dd>
          {formatCount(run.usage.prompt_tokens)} in / {formatCount(run.usage.response_tokens)} out
        </dd>
        <dt>Cost</dt>
        <dd>{formatCost(run.cost.usd)}</dd>
        <dt>Latency</dt>
        <dd>{formatDuration(run.latency_ms.total)}</dd>
      </dl>
      <p>
        <Link href={href.execution(run.execution_id)}>Open execution</Link>
        {run.trace_id && (
          <>
            {" · "}
            <Link href={href.trace(run.trace_id)}>Open trace</Link>
          </>
        )}
      </p>
    </div>
  );
}
