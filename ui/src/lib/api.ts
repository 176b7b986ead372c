/** The dashboard's one client: every call goes through the generated, typed SDK. */
import { createPromptLedger, PromptLedgerError, unwrap, type Schemas } from "@promptledger/client";
import { session } from "./session";

export type { Schemas };
export { PromptLedgerError, unwrap };

export const ledger = createPromptLedger({ baseUrl: "", apiKey: () => session.key() });
export const api = ledger.api;

/** A message for any failure: the API's own message when there is one. */
export function errorMessage(error: unknown): string {
  if (error instanceof PromptLedgerError) return `${error.message} (${error.status} ${error.code})`;
  if (error instanceof Error) return error.message;
  return String(error);
}
