import { triggerOf, type FunctionRegistry } from '../functions-core';
import { decideEpisode, failedEpisode, type EpisodeDecision } from './episode';
import { EventType, events, type HistoryEvent } from './history';
import { activityFailure, invokeActivity, invokeOrchestrator, type LogSink, type OrchestratorAnswer } from './invoke';
import { isTerminal, type ActivityWorkItem, type InstanceRecord } from './store';

/** What the worker does with one work item, decided outside the store and committed by the host. */

export interface WorkerLimits {
  maxEpisodesPerInstance: number;
  activityTimeoutMs: number;
  orchestratorTimeoutMs: number;
  maxShortTimerMs: number;
  longTimerIntervalMs: number;
}

export interface WorkerDeps {
  registry: FunctionRegistry;
  limits: WorkerLimits;
  now(): Date;
  logSink(functionName: string, instanceId?: string): LogSink;
  isCrash(error: unknown): boolean;
}

export type EpisodePlan =
  | { kind: 'discard' }
  | { kind: 'terminate'; newEvents: HistoryEvent[]; reason: string | undefined }
  | { kind: 'commit'; decision: EpisodeDecision };

/** Runs one orchestrator episode over the instance's history plus the `messages` it is being delivered. */
export async function runEpisode(deps: WorkerDeps, record: InstanceRecord, messages: HistoryEvent[], now: Date): Promise<EpisodePlan> {
  const newEvents = [events.orchestratorStarted(now), ...messages];
  if (isTerminal(record.runtimeStatus)) return { kind: 'discard' };
  const termination = messages.find((m) => m.EventType === EventType.ExecutionTerminated);
  if (termination) return { kind: 'terminate', newEvents, reason: termination.Input };
  if (record.episodes >= deps.limits.maxEpisodesPerInstance) {
    const message = `The local durable host stopped instance '${record.instanceId}' after ${record.episodes} episodes (maxEpisodesPerInstance).`;
    return { kind: 'commit', decision: failedEpisode({ newEvents, now }, message) };
  }
  const history = [...record.history.map((e) => ({ ...e, IsPlayed: true })), ...newEvents.map((e) => ({ ...e, IsPlayed: false }))];
  const answer = await askOrchestrator(deps, record, history);
  const replay = {
    instanceId: record.instanceId,
    executionId: record.executionId,
    parentInstanceId: record.parent?.instanceId,
    maxShortTimerMs: deps.limits.maxShortTimerMs,
    longTimerIntervalMs: deps.limits.longTimerIntervalMs,
    validate: validator(deps.registry),
  };
  return { kind: 'commit', decision: decideEpisode({ name: record.name, newEvents, history, answer, now, replay }) };
}

async function askOrchestrator(deps: WorkerDeps, record: InstanceRecord, history: HistoryEvent[]): Promise<OrchestratorAnswer> {
  const { limits } = deps;
  const invocation = invokeOrchestrator(deps.registry, record.name, record.instanceId, history, limits, deps.logSink(record.name, record.instanceId));
  const message = `Orchestrator '${record.name}' did not answer within ${limits.orchestratorTimeoutMs} ms.`;
  return withTimeout(invocation, limits.orchestratorTimeoutMs, message).catch((err: unknown) => ({ thrown: messageOf(err) }));
}

export type ActivityOutcome = { kind: 'done'; event: HistoryEvent } | { kind: 'crash'; error: unknown };

/** Runs one activity: its result or failure as the history event the host records, or a crash. */
export async function runActivity(deps: WorkerDeps, item: ActivityWorkItem): Promise<ActivityOutcome> {
  const { activityTimeoutMs } = deps.limits;
  try {
    const invocation = invokeActivity(deps.registry, item.name, item.input, deps.logSink(item.name, item.instanceId));
    const result = await withTimeout(invocation, activityTimeoutMs, `Timeout value of ${activityTimeoutMs} ms was exceeded by function 'Functions.${item.name}'.`);
    return { kind: 'done', event: events.taskCompleted(deps.now(), item.taskScheduledId, result) };
  } catch (err) {
    if (deps.isCrash(err)) return { kind: 'crash', error: err };
    const { reason, details } = activityFailure(item.name, err);
    return { kind: 'done', event: events.taskFailed(deps.now(), item.taskScheduledId, reason, details) };
  }
}

/** Checks the error and its `cause` chain: a dying process takes its callers down whatever wraps the error. */
export function crashMatcher(isCrash: ((error: unknown) => boolean) | undefined): (error: unknown) => boolean {
  return (error) => {
    if (!isCrash) return false;
    const seen = new Set<unknown>();
    for (let e: unknown = error; e !== undefined && e !== null && !seen.has(e); e = (e as { cause?: unknown }).cause) {
      seen.add(e);
      try {
        if (isCrash(e)) return true;
      } catch {
        return false;
      }
    }
    return false;
  };
}

function validator(registry: FunctionRegistry): (kind: 'activity' | 'subOrchestration', name: string) => string | undefined {
  return (kind, name) => {
    const fn = registry.get(name);
    const expected = kind === 'activity' ? 'activityTrigger' : 'orchestrationTrigger';
    if (fn && triggerOf(fn).type === expected) return undefined;
    return `The function '${name}' doesn't exist, is disabled, or is not ${kind === 'activity' ? 'an activity' : 'an orchestrator'} function.`;
  };
}

export function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
