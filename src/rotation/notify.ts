import type { RotationDeps } from './deps';
import { buildLifecycleEvent, type LifecycleStep } from './lifecycle-events';
import type { RotationStatus } from './status';

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
