import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The secret values one activity invocation has held: every value read from or written to
 * Key Vault, every verifier and token. Adapters record them as they pass; before an error or
 * a log line leaves the invocation, `redactHeld` replaces each, whatever the SDK or server
 * put into its text. The orchestrator never sees a value, so it needs no such pass.
 */
const store = new AsyncLocalStorage<Set<string>>();

const REDACTED = '[redacted]';
// A shorter value would match ordinary words; every value the service holds is far longer.
const MIN_LENGTH = 8;

export function holdingSecrets<T>(held: Set<string>, work: () => Promise<T>): Promise<T> {
  return store.run(held, work);
}

/** Records a value for the current invocation; outside one it does nothing. */
export function holdSecret(value: string | undefined): void {
  const held = store.getStore();
  if (!held || !value || value.length < MIN_LENGTH) return;
  held.add(value);
  // A SCRAM verifier's keys are secret on their own (they log in by pass-the-hash).
  if (value.startsWith('SCRAM-SHA-256$')) for (const part of value.split(/[$:]/).slice(2)) if (part.length >= MIN_LENGTH) held.add(part);
}

/** The text with every held value, in each form it travels in (raw, JSON, URI, base64), replaced. */
export function redactHeld(text: string, held: Iterable<string>): string {
  let out = text;
  for (const value of [...held].sort((a, b) => b.length - a.length)) {
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1), encodeURIComponent(value), Buffer.from(value).toString('base64')])) {
      out = out.split(form).join(REDACTED);
    }
  }
  return out;
}
