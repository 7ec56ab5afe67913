import { app, type InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import type { DurableClient } from 'durable-functions';
import { instanceIdFor } from '../orchestrations/contract';
import { mapWithConcurrency } from '../rotation/concurrency';
import type { RotationDeps } from '../rotation/deps';
import { runDriftCheck, type DriftOutcome, type Rotations } from '../rotation/drift-run';
import { recordDriftFindings } from '../telemetry/rotation-telemetry';
import { currentStatus, isActive, startRotation } from './start-rotation';

export const DRIFT_CHECK = 'driftCheck';
// Resolved by the Functions host from the app setting; its default (every 6 hours) lives in app-settings.ts.
export const DRIFT_SCHEDULE_EXPRESSION = '%ROTATOR_DRIFT_SCHEDULE%';
const CONCURRENCY = 4;

/** Every credential checked against Key Vault; health recorded, events on a change, repairs as configured. */
export function registerDriftCheck(getDeps: () => RotationDeps): void {
  app.timer(DRIFT_CHECK, {
    schedule: DRIFT_SCHEDULE_EXPRESSION,
    runOnStartup: false,
    extraInputs: [df.input.durableClient()],
    handler: async (_timer: unknown, context: InvocationContext) => {
      const deps = getDeps();
      const rotations = durableRotations(df.getClient(context));
      const outcomes = await mapWithConcurrency(deps.config.credentials, CONCURRENCY, async (c) => {
        try {
          return await runDriftCheck(deps, c, rotations);
        } catch (error) {
          context.error(`${DRIFT_CHECK}: ${c.id}: the check failed: ${(error as Error).message}`);
          return { credentialId: c.id, skipped: `failed: ${(error as Error).message}` } satisfies DriftOutcome;
        }
      });
      for (const o of outcomes) {
        if (o.report) recordDriftFindings(o.credentialId, o.report.findings);
        logOutcome(context, o);
      }
      return outcomes;
    },
  });
}

export function durableRotations(client: DurableClient): Rotations {
  return {
    isRunning: async (id) => isActive(await currentStatus(client, instanceIdFor(id))),
    start: async (id, request) => (await startRotation(client, id, 'drift', request)).outcome,
  };
}

function logOutcome(context: InvocationContext, o: DriftOutcome): void {
  if (!o.report) return context.info(`${DRIFT_CHECK}: ${o.credentialId}: skipped: ${o.skipped}`);
  const codes = o.report.findings.map((f) => f.code).join(', ') || 'no findings';
  const line = `${DRIFT_CHECK}: ${o.credentialId}: ${o.report.health} (${codes})${o.recorded?.event ? `, event ${o.recorded.event}` : ''}${o.repaired?.length ? `; repair: ${o.repaired.join('; ')}` : o.plan && o.plan.kind === 'none' && o.report.health === 'drifted' ? `; no repair: ${o.plan.reason}` : ''}`;
  (o.report.health === 'drifted' ? context.warn : context.info).call(context, line);
}
