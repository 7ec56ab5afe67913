import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { RotationDeps } from '../rotation/deps';
import { isStaleVersion, matchCredential, parseKeyVaultEvent } from './key-vault-event';
import { startRotation } from './start-rotation';

export const KEY_VAULT_EVENTS = 'keyVaultEvents';

/** Key Vault SecretNearExpiry / SecretExpired through Event Grid: one line in the log for every decision. */
export function registerKeyVaultEvents(getDeps: () => RotationDeps): void {
  app.eventGrid(KEY_VAULT_EVENTS, {
    extraInputs: [df.input.durableClient()],
    handler: (event: unknown, context: InvocationContext) => handleKeyVaultEvent(getDeps(), event, context),
  });
}

async function handleKeyVaultEvent(deps: RotationDeps, raw: unknown, context: InvocationContext): Promise<void> {
  let event;
  try {
    event = parseKeyVaultEvent(raw);
  } catch (error) {
    // Redelivering a malformed event cannot help: report it and let the delivery succeed.
    context.error(`${KEY_VAULT_EVENTS}: rejected a malformed event, nothing started: ${(error as Error).message}`);
    return;
  }
  const decision = matchCredential(event, deps.config);
  if (decision.action === 'ignore') {
    context.info(`${KEY_VAULT_EVENTS}: ignored ${event.eventType} ${event.eventId}: ${decision.reason}`);
    return;
  }
  const { credential } = decision;
  const live = await deps.vault(credential.keyVault.url).latest('key-vault-event', credential.keyVault.secret);
  if (isStaleVersion(event, live?.version)) {
    context.info(`${KEY_VAULT_EVENTS}: ignored ${event.eventType} ${event.eventId}: version ${event.version} of ${event.secretName} is no longer the live version (${live?.version ?? 'none'}); a stale or redelivered event`);
    return;
  }
  const result = await startRotation(df.getClient(context), credential.id, decision.rotationReason);
  context.info(`${KEY_VAULT_EVENTS}: ${event.eventType} for ${event.secretName} version ${event.version}: ${result.outcome === 'started' ? `started ${result.instanceId}` : `${result.instanceId} is already running`}`);
}
