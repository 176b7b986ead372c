import { useState } from "preact/hooks";
import { api, unwrap, type Schemas } from "../lib/api";
import { Chip, Confirm, Empty, Guarded, PageHeader, Show, useAsync, useNotice } from "../components";
import { formatTime } from "../lib/format";
import { session } from "../lib/session";

export function AdminPage() {
  return (
    <section>
      <PageHeader title="Admin" />
      {!session.can("admin") && (
        <p class="notice notice-info" role="status">
          This key's scope is <strong>{session.scope()}</strong>: API keys and prices need an admin key, so their actions are disabled.
        </p>
      )}
      <Keys />
      <Models />
    </section>
  );
}

function Keys() {
  const [showRevoked, setShowRevoked] = useState(false);
  const keys = useAsync(
    async () => (session.can("admin") ? unwrap(await api.GET("/v1/api-keys", { params: { query: { include_revoked: showRevoked || undefined } } })).data : []),
    [showRevoked],
  );
  const [name, setName] = useState("");
  const [scope, setScope] = useState<Schemas["Scope"]>("read");
  const [created, setCreated] = useState<Schemas["ApiKeyCreated"] | null>(null);
  const [copied, setCopied] = useState<string | null>(null);
  const [revoking, setRevoking] = useState<Schemas["ApiKey"] | null>(null);
  const notice = useNotice();
  const revoke = async () => {
    const key = revoking;
    setRevoking(null);
    if (!key) return;
    try {
      unwrap(await api.DELETE("/v1/api-keys/{id}", { params: { path: { id: key.id } } }));
      notice.ok(`Revoked ${key.name}.`);
      keys.reload();
    } catch (e) {
      notice.fail(e);
    }
  };
  return (
    <div class="card" role="region" aria-labelledby="keys-title">
      <h2 id="keys-title">API keys</h2>
      <form
        class="inline-form"
        aria-label="Create an API key"
        onSubmit={async (e) => {
          e.preventDefault();
          try {
            const key = unwrap(await api.POST("/v1/api-keys", { body: { name: name.trim(), scope } }));
            setCreated(key);
            setCopied(null);
            setName("");
            keys.reload();
          } catch (err) {
            notice.fail(err);
          }
        }}
      >
        <label>
          Name
          <input required value={name} maxLength={100} onInput={(e) => setName((e.target as HTMLInputElement).value)} placeholder="ci-deploy" />
        </label>
        <label>
          Scope
          <select value={scope} onChange={(e) => setScope((e.target as HTMLSelectElement).value as Schemas["Scope"])}>
            <option value="read">read</option>
            <option value="write">write</option>
            <option value="admin">admin</option>
          </select>
        </label>
        <Guarded needs="admin" type="submit">
          Create key
        </Guarded>
      </form>
      {created && (
        <div class="secret" role="status" data-testid="new-secret">
          <p>
            <strong>{created.name}</strong> ({created.scope}) was created. Copy its secret now: it is shown only this once.
          </p>
          <div class="secret-row">
            <code class="mono" id="new-key-secret">
              {created.key}
            </code>
            <button
              type="button"
              class="button secondary small"
              onClick={async () => {
                try {
                  await navigator.clipboard.writeText(created.key);
                  setCopied("Copied.");
                } catch {
                  setCopied("The browser refused the clipboard: select the key and copy it.");
                }
              }}
            >
              Copy
            </button>
            <button type="button" class="button secondary small" onClick={() => setCreated(null)}>
              Done
            </button>
          </div>
          {copied && <p class="small">{copied}</p>}
        </div>
      )}
      {notice.view}
      <label class="check">
        <input type="checkbox" checked={showRevoked} onChange={(e) => setShowRevoked((e.target as HTMLInputElement).checked)} /> Show revoked keys
      </label>
      <Show state={keys} what="Loading keys">
        {(list) =>
          list.length === 0 ? (
            <Empty title={session.can("admin") ? "No keys besides the bootstrap key." : "Keys are visible to admins only."} />
          ) : (
            <div class="table-wrap">
              <table class="table" aria-label="API keys">
                <thead>
                  <tr>
                    <th scope="col">Name</th>
                    <th scope="col">Scope</th>
                    <th scope="col">Prefix</th>
                    <th scope="col">Created</th>
                    <th scope="col">Status</th>
                    <th scope="col">
                      <span class="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {list.map((k) => (
                    <tr key={k.id}>
                      <td>{k.name}</td>
                      <td>{k.scope}</td>
                      <td class="mono">{k.key_prefix}…</td>
                      <td>{formatTime(k.created_at)}</td>
                      <td>{k.revoked_at ? <Chip status="canceled" label={`revoked ${formatTime(k.revoked_at)}`} /> : <Chip status="active" />}</td>
                      <td>
                        {!k.revoked_at && (
                          <Guarded needs="admin" class="button danger small" label={`Revoke ${k.name}`} onClick={() => setRevoking(k)}>
                            Revoke
                          </Guarded>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Show>
      <Confirm open={!!revoking} title={`Revoke ${revoking?.name ?? ""}?`} confirmLabel="Revoke key" danger onConfirm={revoke} onCancel={() => setRevoking(null)}>
        <p>Requests with this key fail from now on. This cannot be undone; create a new key instead.</p>
      </Confirm>
    </div>
  );
}

function Models() {
  const models = useAsync(async () => unwrap(await api.GET("/v1/models")).data, []);
  return (
    <div class="card" role="region" aria-labelledby="models-title">
      <h2 id="models-title">Model prices</h2>
      <p class="small muted">USD per million tokens; a run's cost is computed with the prices in force when it completes.</p>
      <Show state={models} what="Loading models">
        {(list) => (
          <div class="table-wrap">
            <table class="table" aria-label="Model prices">
              <thead>
                <tr>
                  <th scope="col">Provider</th>
                  <th scope="col">Model</th>
                  <th scope="col">Input</th>
                  <th scope="col">Output</th>
                  <th scope="col">Updated</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {list.map((m) => (
                  <PriceRow key={m.id} model={m} onSaved={models.reload} />
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Show>
    </div>
  );
}

function PriceRow({ model, onSaved }: { model: Schemas["Model"]; onSaved: () => void }) {
  const [input, setInput] = useState(String(model.input_usd_per_mtok));
  const [output, setOutput] = useState(String(model.output_usd_per_mtok));
  const notice = useNotice();
  const changed = input !== String(model.input_usd_per_mtok) || output !== String(model.output_usd_per_mtok);
  const id = `${model.provider}-${model.model_name}`.replace(/[^\w-]/g, "_");
  return (
    <tr>
      <td>{model.provider}</td>
      <th scope="row">{model.model_name}</th>
      <td>
        <input
          class="price"
          type="number"
          step="any"
          min={0}
          id={`in-${id}`}
          aria-label={`Input price for ${model.model_name}`}
          disabled={!session.can("admin")}
          value={input}
          onInput={(e) => setInput((e.target as HTMLInputElement).value)}
        />
      </td>
      <td>
        <input
          class="price"
          type="number"
          step="any"
          min={0}
          aria-label={`Output price for ${model.model_name}`}
          disabled={!session.can("admin")}
          value={output}
          onInput={(e) => setOutput((e.target as HTMLInputElement).value)}
        />
      </td>
      <td>{formatTime(model.updated_at)}</td>
      <td>
        <Guarded
          needs="admin"
          class="button secondary small"
          disabled={!changed}
          label={`Save prices for ${model.model_name}`}
          onClick={async () => {
            try {
              unwrap(
                await api.PUT("/v1/models/{provider}/{model_name}", {
                  params: { path: { provider: model.provider, model_name: model.model_name } },
                  body: { input_usd_per_mtok: Number(input), output_usd_per_mtok: Number(output) },
                }),
              );
              onSaved();
            } catch (e) {
              notice.fail(e);
            }
          }}
        >
          Save
        </Guarded>
        {notice.view}
      </td>
    </tr>
  );
}
