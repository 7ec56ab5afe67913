import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import type { Credential } from '../config/schema';
import { instanceIdFor } from '../orchestrations/contract';
import { mapWithConcurrency } from '../rotation/concurrency';
import type { RotationDeps } from '../rotation/deps';
import { dueReason, inWindow, isAbandonedPending, nextDue } from '../rotation/schedule';
import { isPromotedButUnfinished, pendingSecretName, TAG } from '../rotation/state';
import type { SecretSummary } from '../targets/key-vault';
import { observeExpiry } from '../telemetry/rotation-telemetry';
import { currentStatus, isActive, startRotation } from './start-rotation';

export const SCHEDULED_ROTATION = 'scheduledRotation';
// Resolved by the Functions host from the app setting; its default lives in app-settings.ts.
export const SCHEDULE_EXPRESSION = '%ROTATOR_SCHEDULE%';
const CONCURRENCY = 4;

export type ScheduleDecision = 'started' | 'resumed' | 'running' | 'not-due' | 'outside-window' | 'no-live-secret' | 'error';

/** The daily due check, which is also the janitor for pending secrets left behind. */
export function registerScheduledRotation(getDeps: () => RotationDeps): void {
  app.timer(SCHEDULED_ROTATION, {
    schedule: SCHEDULE_EXPRESSION,
    runOnStartup: false,
    extraInputs: [df.input.durableClient()],
    handler: async (_timer: unknown, context: InvocationContext) => {
      const deps = getDeps();
      const client = df.getClient(context);
      const listing = vaultListings(deps);
      const decisions = await mapWithConcurrency(deps.config.credentials, CONCURRENCY, (c) => checkOne(deps, client, c, context, listing));
      const counts = decisions.reduce<Record<string, number>>((acc, d) => ({ ...acc, [d]: (acc[d] ?? 0) + 1 }), {});
      context.info(`${SCHEDULED_ROTATION}: ${deps.config.credentials.length} credential(s) checked: ${JSON.stringify(counts)}`);
      return decisions;
    },
  });
}

type Listing = (vaultUrl: string) => Promise<Map<string, SecretSummary>>;

/**
 * Each vault listed once for the whole check, page by page with every secret's properties
 * (Key Vault pages hold 25), instead of two reads per credential: a fleet's due check costs
 * a few dozen requests of the vault's budget, not thousands.
 */
function vaultListings(deps: RotationDeps): Listing {
  const listings = new Map<string, Promise<Map<string, SecretSummary>>>();
  return (vaultUrl) => {
    const key = vaultUrl.replace(/\/+$/, '').toLowerCase();
    let listing = listings.get(key);
    if (!listing) {
      listing = deps.vault(vaultUrl).latestOfAll('schedule');
      listings.set(key, listing);
    }
    return listing;
  };
}

async function checkOne(deps: RotationDeps, client: DurableClient, c: Credential, context: InvocationContext, listing: Listing): Promise<ScheduleDecision> {
  const now = deps.now();
  let live: SecretSummary | undefined;
  const say = (decision: ScheduleDecision, why: string): ScheduleDecision => {
    (decision === 'error' || decision === 'no-live-secret' ? context.error : context.info).call(context, `${SCHEDULED_ROTATION}: ${c.id}: ${decision}: ${why}`);
    observeExpiry(c.id, live?.expiresOn, rotationScheduled(c, live, decision, now), now);
    return decision;
  };
  try {
    const [secrets, status] = await Promise.all([listing(c.keyVault.url), currentStatus(client, instanceIdFor(c.id))]);
    const latest = secrets.get(c.keyVault.secret.toLowerCase());
    const pending = secrets.get(pendingSecretName(c).toLowerCase());
    // As a read of it would be refused (403), a disabled latest version is an error, not a date to go by.
    const disabled = [latest, pending].find((secret) => secret && !secret.enabled);
    if (disabled) return say('error', `reading secret ${disabled.name} failed: its latest version is disabled`);
    live = latest;
    if (isActive(status)) return say('running', `${status.instanceId} is ${status.runtimeStatus}`);
    if (pending && isAbandonedPending(pending, now, deps.config.pendingMaxAgeHours)) {
      const result = await startRotation(client, c.id, 'janitor');
      return say(result.outcome === 'started' ? 'resumed' : 'running', `pending secret ${pending.name} of rotation ${pending.tags[TAG.rotationId] ?? '(untagged)'} is older than ${deps.config.pendingMaxAgeHours} h with no rotation running`);
    }
    if (live && isPromotedButUnfinished(live) && isAbandonedPending(live, now, deps.config.pendingMaxAgeHours)) {
      // A degraded or interrupted rotation: begin resumes it, so propagation is tried again and, once confirmed, the old credential retires.
      const result = await startRotation(client, c.id, 'janitor');
      return say(result.outcome === 'started' ? 'resumed' : 'running', `the live secret of rotation ${live.tags[TAG.rotationId]} was promoted more than ${deps.config.pendingMaxAgeHours} h ago and its consumers were never all confirmed`);
    }
    const reason = dueReason(c, live, now);
    if (!reason) return say('not-due', `next due ${nextDue(c, live, now)?.toISOString() ?? 'never'}`);
    // Rotating now would replace a password the applications hold with one they were never given.
    if (reason === 'no-live-secret') return say('no-live-secret', `Key Vault has no secret ${c.keyVault.secret}; put the role's current password there (or rotate by hand) first`);
    if (!inWindow(c, now)) return say('outside-window', `due (${reason}) but outside its rotation window`);
    const result = await startRotation(client, c.id, 'scheduled');
    return say(result.outcome === 'started' ? 'started' : 'running', `due (${reason})`);
  } catch (error) {
    return say('error', (error as Error).message);
  }
}

/** Whether a rotation runs now or a later daily check will start one before the live version expires. */
function rotationScheduled(c: Credential, live: SecretSummary | undefined, decision: ScheduleDecision, now: Date): boolean {
  if (decision === 'started' || decision === 'resumed' || decision === 'running') return true;
  if (decision !== 'not-due' && decision !== 'outside-window') return false;
  const due = nextDue(c, live, now);
  return due !== undefined && live?.expiresOn !== undefined && due.getTime() < Date.parse(live.expiresOn);
}
