import * as df from 'durable-functions';
import type { OrchestrationContext, Task } from 'durable-functions';
import type { SerializedError } from '../errors';
import type { AppTicket } from '../rotation/container-app-consumer';
import type { Confirmation, Propagated, TargetKey } from '../rotation/consumers';
import type { LifecycleStep } from '../rotation/lifecycle-events';
import type { Applied, ApplyRequest, Compensation, LiveState, PendingRef, Plan, PromoteRequest, Promoted, Retired, RotationIds, RotationRef } from '../rotation/stages';
import { compactStatus, type RotationStatus, type StageName, type TargetResult } from '../rotation/status';
import { recordRotation } from '../telemetry/rotation-telemetry';
import { activityName, type ActivityKind, type Announced, type Envelope, type RotationRequest } from './contract';

/** Transient failures (throttling, 5xx, resets) only: permanent ones never reach the policy. */
export const TRANSIENT_RETRY = Object.assign(new df.RetryOptions(2_000, 5), { backoffCoefficient: 2, maxRetryIntervalInMilliseconds: 60_000 });

/** Events are worth a few tries, never worth failing a rotation for. */
export const PUBLISH_RETRY = Object.assign(new df.RetryOptions(1_000, 3), { backoffCoefficient: 2 });

/** Consumers: rounds over the targets that failed transiently, a durable timer between rounds. */
export const PROPAGATE = { rounds: 4, firstDelaySeconds: 5, batch: 8 };
export const CONFIRM_POLL_SECONDS = 10;

interface StageIO {
  begin: [RotationIds, Plan];
  live: [{ credentialId: string }, LiveState];
  apply: [ApplyRequest, Applied];
  verify: [PendingRef, { latencyMs: number }];
  promote: [PromoteRequest, Promoted];
  retire: [RotationRef & { liveVersion: string; previousRole: string }, Retired];
  compensate: [RotationRef, Compensation];
}

/**
 * begin → stage and apply (one activity, one admin session) → verify → promote → propagate → confirm → grace → retire.
 * Compensate on failure before promote; after promote never roll back: a consumer that
 * still fails leaves the rotation degraded and nothing retired. The stages announce the
 * started, succeeded and retired events themselves; only the others take a publish activity.
 */
export function* rotateCredential(context: OrchestrationContext): Generator<Task, RotationStatus, unknown> {
  const request = context.df.getInput<RotationRequest>();
  const run = new Run(context, request);
  try {
    const status = request.mode === 'propagate' ? yield* repropagate(run, request) : yield* rotate(context, run, request);
    run.report();
    return status;
  } catch (failure) {
    const error = run.fail(failure);
    yield* run.notify('failed');
    run.report();
    throw error;
  }
}

function* rotate(context: OrchestrationContext, run: Run, request: RotationRequest): Generator<Task, RotationStatus, unknown> {
  const plan = yield* run.step('begin', { credentialId: request.credentialId, rotationId: context.df.newGuid(context.df.instanceId) }, 'started');
  Object.assign(run.status, { rotationId: plan.rotationId, role: plan.role });
  const ids: RotationRef = { credentialId: plan.credentialId, rotationId: plan.rotationId, role: plan.role };
  let pendingVersion = plan.pendingVersion;
  if (!plan.alreadyPromoted) {
    try {
      pendingVersion = (yield* run.step('apply', { ...ids, pendingVersion, resumed: plan.resumed })).pendingVersion;
      yield* run.step('verify', { ...ids, pendingVersion });
    } catch (failure) {
      run.fail(failure);
      yield* run.step('compensate', ids);
      throw failure;
    }
  }
  const announce = plan.targets.length === 0 ? 'succeeded' : undefined;
  const promoted = yield* run.step('promote', { ...ids, pendingVersion, alreadyPromoted: plan.alreadyPromoted, previousVersion: plan.liveVersion, keep: plan.keep }, announce);
  Object.assign(run.status, { liveVersion: promoted.liveVersion, previousVersion: promoted.previousVersion });
  return yield* finish(run, ids, promoted.liveVersion, plan.targets, plan, announce !== undefined);
}

/** The live version again, to the targets that missed it: no new password. */
function* repropagate(run: Run, request: RotationRequest): Generator<Task, RotationStatus, unknown> {
  const live = yield* run.step('live', { credentialId: request.credentialId });
  Object.assign(run.status, { rotationId: live.rotationId, role: live.role, liveVersion: live.liveVersion });
  const targets = request.targets?.length ? request.targets : live.targets;
  return yield* finish(run, { credentialId: live.credentialId, rotationId: live.rotationId, role: live.role }, live.liveVersion, targets, live);
}

function* finish(run: Run, ids: RotationRef, liveVersion: string, targets: TargetKey[], timing: { liveRole: string; graceMinutes: number; confirmTimeoutMinutes: number }, succeededAnnounced = false): Generator<Task, RotationStatus, unknown> {
  const confirmed = yield* run.consumers(ids.credentialId, liveVersion, targets, timing.confirmTimeoutMinutes);
  if (!confirmed) {
    run.degrade();
    yield* run.notify('degraded');
    return run.status;
  }
  if (!succeededAnnounced) yield* run.notify('succeeded');
  yield* run.grace(timing.graceMinutes);
  const retired = yield* run.step('retire', { ...ids, liveVersion, previousRole: timing.liveRole }, 'retired');
  if (retired.retiredRole) run.status.retiredLogin = { role: retired.retiredRole, sessions: retired.sessions ?? 0, endedSessions: retired.endedSessions ?? 0 };
  return run.succeed();
}

class StageFailed extends Error {
  constructor(readonly error: SerializedError) {
    super(error.message);
  }
}

/** Keeps the custom status (stage, per-stage timings, per-target results, outcome) as the orchestration advances. */
class Run {
  readonly status: RotationStatus;
  /** The first episode's time, the same in every replay. */
  private readonly startedAt: Date;

  constructor(private readonly context: OrchestrationContext, request: RotationRequest) {
    this.startedAt = context.df.currentUtcDateTime;
    this.status = { credentialId: request.credentialId, reason: request.reason, stage: request.mode === 'propagate' ? 'live' : 'begin', outcome: 'running', stages: [] };
  }

  /** Runs one stage's activity; `announce` names the lifecycle event the activity publishes once the stage succeeded. */
  *step<S extends keyof StageIO>(stage: S, input: StageIO[S][0], announce?: LifecycleStep): Generator<Task, StageIO[S][1], unknown> {
    this.enter(stage);
    const startedAt = this.nowIso();
    // The event's status as if the stage were done: a retired event reports a succeeded rotation.
    const status = announce === 'retired' ? { ...this.status, stage: 'done' as const, outcome: 'succeeded' as const } : this.status;
    const sent = announce ? { ...input, announce: { step: announce, status: compactStatus(status), startedAt } } : input;
    const envelope = yield* this.call<StageIO[S][1]>(stage, sent, TRANSIENT_RETRY);
    if (!envelope.ok) {
      // Stage runs inside apply's activity: a failure there is recorded as stage's.
      this.record(stage === 'apply' && envelope.error.stage === 'stage' ? 'stage' : stage, 'failed', startedAt, envelope.durationMs, envelope.error.code, envelope.attempts);
      throw new StageFailed(envelope.error);
    }
    // Its own record first, so the status still lists every stage of the table; it ran as often as apply did.
    const staged = stage === 'apply' ? (envelope.value as Applied).staged : undefined;
    if (staged) this.record('stage', 'succeeded', startedAt, staged.durationMs, undefined, envelope.attempts);
    const skipped = (envelope.value as { skipped?: boolean }).skipped === true;
    this.record(stage, skipped ? 'skipped' : 'succeeded', startedAt, envelope.durationMs, undefined, envelope.attempts);
    if (envelope.announced) this.recordEvent(envelope.announced, this.nowIso());
    return envelope.value;
  }

  /** Propagate to every target (bounded fan-out, rounds for transient failures), then confirm the Container Apps. */
  *consumers(credentialId: string, liveVersion: string, targets: TargetKey[], confirmTimeoutMinutes: number): Generator<Task, boolean, unknown> {
    if (targets.length === 0) return true;
    this.enter('propagate');
    const startedAt = this.nowIso();
    const results = new Map<TargetKey, TargetResult>();
    const restarted = new Map<TargetKey, AppTicket>();
    let todo = targets;
    let rounds = 0;
    for (let round = 1; todo.length > 0 && round <= PROPAGATE.rounds; round += 1) {
      rounds = round;
      if (round > 1) yield this.context.df.createTimer(this.after(PROPAGATE.firstDelaySeconds * 2 ** (round - 2)));
      const again: TargetKey[] = [];
      for (let i = 0; i < todo.length; i += PROPAGATE.batch) {
        const batch = todo.slice(i, i + PROPAGATE.batch);
        const outcomes = yield* this.fanOut(batch, (target) => ({ credentialId, liveVersion, target }));
        batch.forEach((target, j) => {
          results.set(target, outcomes[j].result);
          if (outcomes[j].confirm) restarted.set(target, outcomes[j].confirm!);
          if (outcomes[j].retryable) again.push(target);
        });
      }
      todo = again;
    }
    this.status.targets = [...results.values()];
    const pushed = this.status.targets.every((t) => t.outcome === 'succeeded');
    this.record('propagate', pushed ? 'succeeded' : 'failed', startedAt, this.sinceMs(startedAt), undefined, rounds);
    if (restarted.size > 0) yield* this.confirm(credentialId, restarted, results, confirmTimeoutMinutes);
    this.status.targets = [...results.values()];
    return this.status.targets.every((t) => t.outcome === 'succeeded');
  }

  private *fanOut(batch: TargetKey[], input: (target: TargetKey) => unknown): Generator<Task, Propagated[], unknown> {
    const tasks = batch.map((target) => this.context.df.callActivityWithRetry(activityName('propagate'), TRANSIENT_RETRY, input(target)));
    try {
      const envelopes = (yield this.context.df.Task.all(tasks)) as Envelope<Propagated>[];
      return envelopes.map((e, j) => (e.ok ? e.value : { result: { kind: kindOf(batch[j]), key: batch[j], target: batch[j], outcome: 'failed' as const, errorCode: e.error.code, message: e.error.message } }));
    } catch (error) {
      const failure = exhausted('propagate', error);
      return batch.map((target) => ({ result: { kind: kindOf(target), key: target, target, outcome: 'failed' as const, errorCode: failure.code, message: failure.message } }));
    }
  }

  /** Polls with durable timers until every app runs the new version healthy on every active revision, or the bound passes. */
  private *confirm(credentialId: string, restarted: Map<TargetKey, AppTicket>, results: Map<TargetKey, TargetResult>, timeoutMinutes: number): Generator<Task, void, unknown> {
    this.enter('confirm');
    const startedAt = this.nowIso();
    const deadline = this.after(timeoutMinutes * 60).getTime();
    const waiting = new Map([...restarted.keys()].map((target) => [target, [] as string[]]));
    let polls = 0;
    while (waiting.size > 0) {
      polls += 1;
      for (const target of [...waiting.keys()]) {
        const ticket = restarted.get(target)!;
        const seen = yield* this.call<Confirmation>('confirm', { credentialId, target, ticket }, TRANSIENT_RETRY);
        if (!seen.ok) {
          this.failTarget(results, target, seen.error.code, seen.error.message);
          waiting.delete(target);
        } else if (seen.value.drifted) {
          this.failTarget(results, target, 'secret-reference-changed', seen.value.drifted);
          waiting.delete(target);
        } else if (seen.value.failed.length > 0) {
          this.failTarget(results, target, 'revision-failed', `revision ${seen.value.failed.map((f) => `${f.revision} (${f.state})`).join(', ')} did not run healthy after the restart`);
          waiting.delete(target);
        } else if (seen.value.waiting.length === 0) {
          results.set(target, { ...results.get(target)!, version: ticket.liveVersion });
          waiting.delete(target);
        } else waiting.set(target, seen.value.waiting);
      }
      if (waiting.size === 0) break;
      if (this.context.df.currentUtcDateTime.getTime() >= deadline) {
        for (const [target, revisions] of waiting) this.failTarget(results, target, 'revision-not-healthy', `revision ${revisions.join(', ')} was not running healthy on replicas started after the change within ${timeoutMinutes} min`);
        break;
      }
      yield this.context.df.createTimer(this.after(CONFIRM_POLL_SECONDS));
    }
    const ok = [...restarted.keys()].every((t) => results.get(t)?.outcome === 'succeeded');
    this.record('confirm', ok ? 'succeeded' : 'failed', startedAt, this.sinceMs(startedAt), undefined, polls);
  }

  private failTarget(results: Map<TargetKey, TargetResult>, target: TargetKey, errorCode: string, message: string): void {
    const current = results.get(target);
    results.set(target, { kind: current?.kind ?? kindOf(target), key: target, target: current?.target ?? target, outcome: 'failed', errorCode, message });
  }

  /** Publishes a lifecycle event no stage announced; a failure is recorded in the status and the rotation goes on. */
  *notify(step: LifecycleStep): Generator<Task, void, unknown> {
    const at = this.nowIso();
    const published = yield* this.call<unknown>('publish', { step, status: this.status }, PUBLISH_RETRY);
    this.recordEvent({ step, published: published.ok, message: published.ok ? undefined : published.error.message }, at);
  }

  private recordEvent(event: Announced, at: string): void {
    this.status.events = [...(this.status.events ?? []), { step: event.step, at, published: event.published }];
    this.publish();
    if (event.published) return;
    this.status.unpublished = [...(this.status.unpublished ?? []), event.step];
    this.publish();
    this.log(`rotation ${this.status.rotationId ?? '(not begun)'} of ${this.status.credentialId}: the ${event.step} event was not published: ${event.message}`);
  }

  *grace(minutes: number): Generator<Task, void, unknown> {
    this.enter('grace');
    const startedAt = this.nowIso();
    yield this.context.df.createTimer(this.after(minutes * 60));
    this.record('grace', 'succeeded', startedAt, minutes * 60_000);
  }

  degrade(): void {
    Object.assign(this.status, { stage: 'done', outcome: 'degraded' });
    this.publish();
    const failed = (this.status.targets ?? []).filter((t) => t.outcome === 'failed').map((t) => t.target);
    this.log(`rotation ${this.status.rotationId} of ${this.status.credentialId}: degraded: the live version is new but ${failed.join(', ')} did not take it; nothing retired`);
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
    const error = new Error(`rotation of ${this.status.credentialId} failed at ${first.stage}: ${first.message}`);
    // The host keeps the stack as the output; the status already says where it failed.
    error.stack = `Error: ${error.message}`;
    return error;
  }

  /** Spans and metrics of the finished rotation: once, from the episode that finishes it, never from a replay. */
  report(): void {
    if (!this.context.df.isReplaying) recordRotation(this.status, { startedAt: this.startedAt, endedAt: this.context.df.currentUtcDateTime });
  }

  private *call<T>(kind: ActivityKind, input: unknown, retry: df.RetryOptions): Generator<Task, Envelope<T> & { attempts?: number }, unknown> {
    const startedAt = this.nowIso();
    const task = this.context.df.callActivityWithRetry(activityName(kind), retry, input);
    try {
      return { ...((yield task) as Envelope<T>), attempts: attemptsOf(task, retry) };
    } catch (error) {
      return { ok: false, durationMs: this.sinceMs(startedAt), error: exhausted(kind, error), attempts: attemptsOf(task, retry) };
    }
  }

  private record(stage: RotationStatus['stage'] & string, outcome: 'succeeded' | 'failed' | 'skipped', startedAt: string, durationMs: number, detail?: string, attempts?: number): void {
    this.status.stages.push({ stage: stage as StageName | 'grace', outcome, startedAt, durationMs, detail, attempts });
    this.publish();
  }

  private enter(stage: RotationStatus['stage']): void {
    this.status.stage = stage;
    this.publish();
  }

  /** The custom status stays small (the extension refuses one over 16 KB); the output carries every target. */
  private publish(): void {
    this.context.df.setCustomStatus(compactStatus(this.status));
  }

  private nowIso(): string {
    return this.context.df.currentUtcDateTime.toISOString();
  }

  private after(seconds: number): Date {
    return new Date(this.context.df.currentUtcDateTime.getTime() + seconds * 1000);
  }

  private sinceMs(iso: string): number {
    return this.context.df.currentUtcDateTime.getTime() - Date.parse(iso);
  }

  private log(message: string): void {
    if (!this.context.df.isReplaying) this.context.log(message);
  }
}

/**
 * How many times the activity ran: durable-functions 3.x counts them in its retryable task
 * (`attemptNumber`, rebuilt from history on every replay, so deterministic) but does not
 * type it; after the last failed attempt it is one past the limit.
 */
function attemptsOf(task: Task, retry: df.RetryOptions): number | undefined {
  const attempt = (task as { attemptNumber?: unknown }).attemptNumber;
  return typeof attempt === 'number' ? Math.min(attempt, retry.maxNumberOfAttempts) : undefined;
}

function kindOf(target: TargetKey): TargetResult['kind'] {
  return target.startsWith('github:') ? 'github' : 'container-app';
}

/**
 * A transient failure that outlived the retry policy, with the activity's own message. The
 * message opens with the stage that raised it, which for apply's activity may be stage.
 */
function exhausted(stage: ActivityKind | StageName, error: unknown): SerializedError {
  const message = causeMessage(error);
  return { code: 'retries-exhausted', stage: stage === 'apply' && message.startsWith('stage: ') ? 'stage' : stage, retryable: true, message };
}

/**
 * The host prefixes "Activity function 'x' failed: " and, without failure details, the
 * library appends the serialized exception (its stack and file paths) after a newline:
 * `${Reason} \n ${Details}`; the reason may open with the error's name. Only the cause's
 * own first line is kept.
 */
function causeMessage(error: unknown): string {
  const raw = (error as { failureDetails?: { errorMessage?: string } })?.failureDetails?.errorMessage ?? (error as Error)?.message ?? String(error);
  const line = raw
    .split(/\r?\n/)[0]
    .replace(/^(Activity|Orchestrator) function '[^']*' failed:\s*/, '')
    .replace(/^[A-Za-z]*Error:\s*/, '')
    .trim();
  return line.slice(0, 1000) || 'the activity failed without a message';
}
