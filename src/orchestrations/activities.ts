import type { InvocationContext } from '@azure/functions';
import * as df from 'durable-functions';
import { RotationError } from '../errors';
import { holdingSecrets, redactHeld } from '../held-secrets';
import type { Logger, RotationDeps } from '../rotation/deps';
import { confirmRevisions, propagateTarget } from '../rotation/consumers';
import { announceStage, publishLifecycle } from '../rotation/notify';
import * as stages from '../rotation/stages';
import { activityName, ORCHESTRATOR, type ActivityKind, type Announce, type Envelope } from './contract';
import { rotateCredential } from './rotate-credential';

type StageFn = (deps: RotationDeps, input: never, log: Logger) => Promise<unknown>;

const ACTIVITIES: Record<ActivityKind, StageFn> = {
  begin: stages.begin,
  live: stages.live,
  apply: stages.apply,
  verify: stages.verify,
  promote: stages.promote,
  propagate: propagateTarget,
  confirm: confirmRevisions,
  retire: stages.retire,
  compensate: stages.compensate,
  publish: publishLifecycle,
};

/** Registers the orchestrator and one activity per stage; `getDeps` is read per invocation. */
export function registerRotation(getDeps: () => RotationDeps): void {
  df.app.orchestration(ORCHESTRATOR, rotateCredential);
  for (const kind of Object.keys(ACTIVITIES) as ActivityKind[]) df.app.activity(activityName(kind), { handler: stageHandler(kind, ACTIVITIES[kind], getDeps) });
}

/**
 * Transient errors are thrown, so the durable retry policy retries them; permanent ones
 * come back as a failed envelope and end the stage at once. Either way the error, like
 * every log line, first loses each secret value the invocation held.
 */
function stageHandler(stage: ActivityKind, fn: StageFn, getDeps: () => RotationDeps) {
  return async (input: unknown, context: InvocationContext): Promise<Envelope<unknown>> => {
    const started = performance.now();
    const held = new Set<string>();
    const log = invocationLogger(context, held);
    try {
      const value = await holdingSecrets(held, () => fn(getDeps(), input as never, log));
      const durationMs = Math.round(performance.now() - started);
      const announce = (input as { announce?: Announce } | undefined)?.announce;
      if (!announce || stage === 'publish') return { ok: true, value, durationMs };
      const outcome = await holdingSecrets(held, () => announceStage(getDeps(), stage, announce, value, durationMs));
      if (!outcome.published) log.warn(`the ${announce.step} event was not published: ${outcome.message}`);
      return { ok: true, value, durationMs, announced: { step: announce.step, published: outcome.published, message: outcome.message && redactHeld(outcome.message, held) } };
    } catch (caught) {
      const error = withoutHeldSecrets(asRotationError(stage, caught), held);
      if (error.retryable) {
        log.warn(`${error.message} (transient, will be retried)`);
        throw error;
      }
      log.error(error.message);
      return { ok: false, error: error.toJSON(), durationMs: Math.round(performance.now() - started) };
    }
  };
}

function asRotationError(stage: ActivityKind, error: unknown): RotationError {
  if (error instanceof RotationError) return error;
  // Not classified by an adapter, so its text is not known to be free of secrets: keep it
  // only as the cause. Unknown is treated as retryable, as a crashed worker would be.
  return new RotationError({ code: 'internal-error', stage, retryable: true, message: `unexpected ${(error as Error)?.name ?? 'error'} in ${stage}`, cause: error });
}

/**
 * A fresh error with the held values replaced and no stack: what the host records of a
 * thrown error (its message and stack) must hold neither secrets nor file paths. The cause
 * stays attached, unserialized, for the host to recognise a crashing worker.
 */
function withoutHeldSecrets(error: RotationError, held: Set<string>): RotationError {
  const message = redactHeld(error.message.slice(error.stage.length + 2), held);
  const clean = new RotationError({ code: error.code, stage: error.stage, retryable: error.retryable, status: error.status, message, cause: error.cause });
  clean.stack = `${clean.name}: ${clean.message}`;
  return clean;
}

function invocationLogger(context: InvocationContext, held: Set<string>): Logger {
  return { info: (m) => context.info(redactHeld(m, held)), warn: (m) => context.warn(redactHeld(m, held)), error: (m) => context.error(redactHeld(m, held)) };
}
