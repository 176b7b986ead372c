import { useState } from "preact/hooks";
import { createApiClient } from "@promptledger/client";
import { errorMessage } from "../lib/api";
import { session, type Scope } from "../lib/session";

/**
 * The API has no "who am I": the scope is read from how two harmless calls
 * are refused. Listing keys needs admin; an empty prompt body is a 422 for
 * a writer and a 403 for a reader. Nothing is written either way.
 */
async function detectScope(key: string): Promise<Scope> {
  const probe = createApiClient({ apiKey: key });
  const keys = await probe.GET("/v1/api-keys");
  if (keys.response.status === 401) throw new Error("The API refused this key (401): check it and try again.");
  if (keys.response.ok) return "admin";
  const prompts = await probe.GET("/v1/prompts", { params: { query: { limit: 1 } } });
  if (!prompts.response.ok) throw new Error(`The API answered ${prompts.response.status} to a read with this key.`);
  // @ts-expect-error: the body is deliberately incomplete; only the refusal's status is read.
  const write = await probe.POST("/v1/prompts", { body: {} });
  return write.response.status === 403 ? "read" : "write";
}

export function SignIn() {
  const [key, setKey] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <section class="signin">
      <h1>Sign in</h1>
      <p>
        Paste a PromptLedger API key. It stays in this tab's session storage and is sent only to this server, in the{" "}
        <code>X-API-Key</code> header; signing out or closing the tab forgets it.
      </p>
      <form
        class="card form"
        onSubmit={async (event) => {
          event.preventDefault();
          setBusy(true);
          setError(null);
          try {
            const trimmed = key.trim();
            const scope = await detectScope(trimmed);
            session.signIn(trimmed, scope);
          } catch (e) {
            setError(errorMessage(e));
          } finally {
            setBusy(false);
          }
        }}
      >
        <label for="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="off"
          spellcheck={false}
          required
          value={key}
          onInput={(e) => setKey((e.target as HTMLInputElement).value)}
        />
        {error && (
          <p class="field-error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" class="button" disabled={busy || !key.trim()}>
          {busy ? "Checking…" : "Sign in"}
        </button>
      </form>
    </section>
  );
}
