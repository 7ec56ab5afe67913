import type { RotationDeps } from './deps';
import { buildLifecycleEvent, type LifecycleStep } from './lifecycle-events';
import type { RotationStatus, StageName } from './status';

export interface PublishRequest {
  step: LifecycleStep;
  status: RotationStatus;
}

/** Publishes one lifecycle event built from the status; ids only, so the event cannot carry a secret. */
export async function publishLifecycle(deps: RotationDeps, input: PublishRequest): Promise<{ published: boolean; eventId: string }> {
  const event = buildLifecycleEvent(input.step, input.status, deps.now(), { reason: input.status.reason, targets: input.status.targets });
  if (!deps.events) return { published: false, eventId: event.id };
  await deps.events.publish('publish', [event]);
  return { published: true, eventId: event.id };
}

/**
 * The event a stage announces once it succeeded: the status it was given, plus the ids the
 * stage's result names and the stage's own record. Publishing can fail; the stage stands.
 */
export async function announceStage(deps: RotationDeps, stage: StageName, announce: { step: LifecycleStep; status: RotationStatus; startedAt: string }, result: unknown, durationMs: number): Promise<{ published: boolean; message?: string }> {
  const named = result as Partial<Pick<RotationStatus, 'rotationId' | 'role' | 'liveVersion' | 'previousVersion'>> & { skipped?: boolean };
  const status: RotationStatus = { ...announce.status, stages: [...announce.status.stages, { stage, outcome: named.skipped ? 'skipped' : 'succeeded', startedAt: announce.startedAt, durationMs }] };
  for (const field of ['rotationId', 'role', 'liveVersion', 'previousVersion'] as const) if (named[field] !== undefined) status[field] = named[field];
  try {
    await publishLifecycle(deps, { step: announce.step, status });
    return { published: true };
  } catch (error) {
    return { published: false, message: (error as Error)?.message ?? String(error) };
  }
}
