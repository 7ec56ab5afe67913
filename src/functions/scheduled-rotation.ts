import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import type { Credential } from '../config/schema';
import { instanceIdFor } from '../orchestrations/contract';
import { mapWithConcurrency } from '../rotation/concurrency';
import type { RotationDeps } from '../rotation/deps';
import { dueReason, inWindow, isAbandonedPending, nextDue } from '../rotation/schedule';
import { isPromotedButUnfinished, pendingSecretName, TAG } from '../rotation/state';
import type { SecretVersionInfo } from '../targets/key-vault';
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
      const decisions = await mapWithConcurrency(deps.config.credentials, CONCURRENCY, (c) => checkOne(deps, client, c, context));
      const counts = decisions.reduce<Record<string, number>>((acc, d) => ({ ...acc, [d]: (acc[d] ?? 0) + 1 }), {});
      context.info(`${SCHEDULED_ROTATION}: ${deps.config.credentials.length} credential(s) checked: ${JSON.stringify(counts)}`);
      return decisions;
    },
  });
}

async function checkOne(deps: RotationDeps, client: DurableClient, c: Credential, context: InvocationContext): Promise<ScheduleDecision> {
  const now = deps.now();
  let live: SecretVersionInfo | undefined;
  const say = (decision: ScheduleDecision, why: string): ScheduleDecision => {
    (decision === 'error' || decision === 'no-live-secret' ? context.error : context.info).call(context, `${SCHEDULED_ROTATION}: ${c.id}: ${decision}: ${why}`);
    observeExpiry(c.id, live?.expiresOn, rotationScheduled(c, live, decision, now), now);
    return decision;
  };
  try {
    const vault = deps.vault(c.keyVault.url);
    const [latest, pending, status] = await Promise.all([vault.latest('schedule', c.keyVault.secret), vault.latest('schedule', pendingSecretName(c)), currentStatus(client, instanceIdFor(c.id))]);
    live = latest;
    if (isActive(status)) return say('running', `${status.instanceId} is ${status.runtimeStatus}`);
    if (pending && isAbandonedPending(pending, now, deps.config.pendingMaxAgeHours)) {
      const result = await startRotation(client, c.id, 'janitor');
      return say(result.outcome === 'started' ? 'resumed' : 'running', `pending secret ${pending.name} of rotation ${pending.tags[TAG.rotationId] ?? '(untagged)'} is older than ${deps.config.pendingMaxAgeHours} h with no rotation running`);
    }
    if (live && isPromotedButUnfinished(live) && isAbandonedPending(live, now, deps.config.pendingMaxAgeHours)) {
      // A degraded or interrupted rotation: begin resumes it, so propagation is tried again and, once confirmed, the old credential retires.
      const result = await startRotation(client, c.id, 'janitor');
      return say(result.outcome === 'started' ? 'resumed' : 'running', `live version ${live.version} of rotation ${live.tags[TAG.rotationId]} was promoted more than ${deps.config.pendingMaxAgeHours} h ago and its consumers were never all confirmed`);
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
function rotationScheduled(c: Credential, live: SecretVersionInfo | undefined, decision: ScheduleDecision, now: Date): boolean {
  if (decision === 'started' || decision === 'resumed' || decision === 'running') return true;
  if (decision !== 'not-due' && decision !== 'outside-window') return false;
  const due = nextDue(c, live, now);
  return due !== undefined && live?.expiresOn !== undefined && due.getTime() < Date.parse(live.expiresOn);
}
