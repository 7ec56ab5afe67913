import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { SerializedError } from '../errors';
import type { Plan, Promoted, PendingRef, RotationIds, Compensation } from '../rotation/stages';
import type { LifecycleStep } from '../rotation/lifecycle-events';
import { activityName, type Envelope, type RotationRequest } from './contract';
import { type RotationStatus, type StageName } from '../rotation/status';

/** Transient failures (throttling, 5xx, resets) only: permanent ones never reach the policy. */
export const TRANSIENT_RETRY = Object.assign(new df.RetryOptions(2_000, 5), { backoffCoefficient: 2, maxRetryIntervalInMilliseconds: 60_000 });

/** Events are worth a few tries, never worth failing a rotation for. */
export const PUBLISH_RETRY = Object.assign(new df.RetryOptions(1_000, 3), { backoffCoefficient: 2 });

interface StageIO {
  begin: [RotationIds, Plan];
  stage: [RotationIds, { pendingVersion: string; reused: boolean }];
  apply: [PendingRef, { skipped: boolean }];
  verify: [PendingRef, { latencyMs: number }];
  promote: [RotationIds & { pendingVersion?: string }, Promoted];
  retire: [RotationIds & { liveVersion: string }, { disabledVersions: string[] }];
  compensate: [RotationIds, Compensation];
}

/** begin → stage → apply → verify → promote → grace → retire; compensate on failure before promote. */
export function* rotateCredential(context: OrchestrationContext): Generator<Task, RotationStatus, unknown> {
  const request = context.df.getInput<RotationRequest>();
  const run = new Run(context, request);
  try {
    return yield* rotate(context, run, request);
  } catch (failure) {
    const error = run.fail(failure);
    yield* run.notify('failed');
    throw error;
  }
}

function* rotate(context: OrchestrationContext, run: Run, request: RotationRequest): Generator<Task, RotationStatus, unknown> {
  const plan = yield* run.step('begin', { credentialId: request.credentialId, rotationId: context.df.newGuid(context.df.instanceId) });
  Object.assign(run.status, { rotationId: plan.rotationId, role: plan.role });
  yield* run.notify('started');
  const ids = { credentialId: plan.credentialId, rotationId: plan.rotationId };
  let pendingVersion = plan.pendingVersion;
  if (!plan.alreadyPromoted) {
    try {
      pendingVersion = (yield* run.step('stage', ids)).pendingVersion;
      yield* run.step('apply', { ...ids, pendingVersion });
      yield* run.step('verify', { ...ids, pendingVersion });
    } catch (failure) {
      run.fail(failure);
      yield* run.step('compensate', ids);
      throw failure;
    }
  }
  const promoted = yield* run.step('promote', { ...ids, pendingVersion });
  Object.assign(run.status, { liveVersion: promoted.liveVersion, previousVersion: promoted.previousVersion });
  yield* run.notify('succeeded');
  yield* run.grace(plan.graceMinutes);
  yield* run.step('retire', { ...ids, liveVersion: promoted.liveVersion });
  const done = run.succeed();
  yield* run.notify('retired');
  return done;
}

class StageFailed extends Error {
  constructor(readonly error: SerializedError) {
    super(error.message);
  }
}

/** Keeps the custom status (stage, per-stage timings, outcome) as the orchestration advances. */
class Run {
  readonly status: RotationStatus;

  constructor(private readonly context: OrchestrationContext, request: RotationRequest) {
    this.status = { credentialId: request.credentialId, reason: request.reason, stage: 'begin', outcome: 'running', stages: [] };
  }

  *step<S extends keyof StageIO>(stage: S, input: StageIO[S][0]): Generator<Task, StageIO[S][1], unknown> {
    this.enter(stage);
    const startedAt = this.context.df.currentUtcDateTime.toISOString();
    let envelope: Envelope<StageIO[S][1]>;
    try {
      envelope = (yield this.context.df.callActivityWithRetry(activityName(stage), TRANSIENT_RETRY, input)) as Envelope<StageIO[S][1]>;
    } catch (error) {
      envelope = { ok: false, durationMs: this.sinceMs(startedAt), error: exhausted(stage, error) };
    }
    const skipped = envelope.ok && (envelope.value as { skipped?: boolean }).skipped === true;
    this.status.stages.push({ stage, outcome: envelope.ok ? (skipped ? 'skipped' : 'succeeded') : 'failed', startedAt, durationMs: envelope.durationMs, detail: envelope.ok ? undefined : envelope.error.code });
    this.publish();
    if (!envelope.ok) throw new StageFailed(envelope.error);
    return envelope.value;
  }

  /** Publishes a lifecycle event; a failure is recorded in the status and the rotation goes on. */
  *notify(step: LifecycleStep): Generator<Task, void, unknown> {
    let published: Envelope<unknown>;
    try {
      published = (yield this.context.df.callActivityWithRetry(activityName('publish'), PUBLISH_RETRY, { step, status: this.status })) as Envelope<unknown>;
    } catch (error) {
      published = { ok: false, durationMs: 0, error: exhausted('publish', error) };
    }
    if (published.ok) return;
    this.status.unpublished = [...(this.status.unpublished ?? []), step];
    this.publish();
    this.log(`rotation ${this.status.rotationId ?? '(not begun)'} of ${this.status.credentialId}: the ${step} event was not published: ${published.error.message}`);
  }

  *grace(minutes: number): Generator<Task, void, unknown> {
    this.enter('grace');
    const startedAt = this.context.df.currentUtcDateTime;
    yield this.context.df.createTimer(new Date(startedAt.getTime() + minutes * 60_000));
    this.status.stages.push({ stage: 'grace', outcome: 'succeeded', startedAt: startedAt.toISOString(), durationMs: minutes * 60_000 });
  }

  succeed(): RotationStatus {
    Object.assign(this.status, { stage: 'done', outcome: 'succeeded' });
    this.publish();
    this.log(`rotation ${this.status.rotationId} of ${this.status.credentialId}: succeeded, live version ${this.status.liveVersion}`);
    return this.status;
  }

  /** Records the first failure (a later compensation failure does not replace it) and returns the error to throw. */
  fail(failure: unknown): Error {
    if (!this.status.error) {
      const error = failure instanceof StageFailed ? failure.error : exhausted(this.status.stage as StageName, failure);
      Object.assign(this.status, { outcome: 'failed', error });
      this.publish();
      this.log(`rotation ${this.status.rotationId ?? '(not begun)'} of ${this.status.credentialId}: failed at ${error.stage}: ${error.message}`);
    }
    const first = this.status.error as SerializedError;
    return new Error(`rotation of ${this.status.credentialId} failed at ${first.stage}: ${first.message}`);
  }

  private enter(stage: RotationStatus['stage']): void {
    this.status.stage = stage;
    this.publish();
  }

  private publish(): void {
    this.context.df.setCustomStatus(this.status);
  }

  private sinceMs(iso: string): number {
    return this.context.df.currentUtcDateTime.getTime() - Date.parse(iso);
  }

  private log(message: string): void {
    if (!this.context.df.isReplaying) this.context.log(message);
  }
}

/** A transient failure that outlived the retry policy. */
function exhausted(stage: StageName | 'publish', error: unknown): SerializedError {
  const message = (error as { failureDetails?: { errorMessage?: string } })?.failureDetails?.errorMessage ?? (error as Error)?.message ?? String(error);
  return { code: 'retries-exhausted', stage, retryable: true, message };
}
