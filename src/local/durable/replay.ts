import { EventType, type HistoryEvent } from './history';

/**
 * What the Durable extension does with an out-of-process orchestrator's answer: it replays
 * the returned actions (all of them, since the start) against the Durable Task framework
 * context, awaiting each one in order, while DTFx walks the history. Sequence ids come out
 * in the same order as the JavaScript library assigns them (including the retry timers and
 * long-timer segments the library expects but never lists as actions). A recorded
 * TaskScheduled / TimerCreated / SubOrchestrationInstanceCreated that the replay does not
 * reproduce is non-determinism; whatever the replay schedules beyond the history is new work.
 */

export const ActionType = {
  CallActivity: 0,
  CallActivityWithRetry: 1,
  CallSubOrchestrator: 2,
  CallSubOrchestratorWithRetry: 3,
  ContinueAsNew: 4,
  CreateTimer: 5,
  WaitForExternalEvent: 6,
  CallEntity: 7,
  CallHttp: 8,
  SignalEntity: 9,
  WhenAny: 11,
  WhenAll: 12,
  LockEntities: 13,
  ReleaseEntities: 14,
} as const;

export interface RetryOptionsJson {
  firstRetryIntervalInMilliseconds: number;
  maxNumberOfAttempts: number;
  backoffCoefficient?: number;
  maxRetryIntervalInMilliseconds?: number;
  retryTimeoutInMilliseconds?: number;
}

/** An action as the library serialises it in its OrchestratorState. */
export interface OrchestratorAction {
  actionType: number;
  functionName?: string;
  input?: unknown;
  retryOptions?: RetryOptionsJson;
  fireAt?: string;
  isCanceled?: boolean;
  externalEventName?: string;
  instanceId?: string;
  compoundActions?: OrchestratorAction[];
}

export type ScheduledWork =
  | { kind: 'activity'; id: number; name: string; input: unknown }
  | { kind: 'timer'; id: number; fireAt: Date }
  | { kind: 'subOrchestration'; id: number; name: string; instanceId: string; input: unknown };

type NewWork =
  | { kind: 'activity'; name: string; input: unknown }
  | { kind: 'timer'; fireAt: Date }
  | { kind: 'subOrchestration'; name: string; instanceId: string; input: unknown };

export interface ReplayOptions {
  instanceId: string;
  /** The current execution: DurableTask.Core names automatic sub-orchestration ids after it. */
  executionId: string;
  parentInstanceId?: string;
  maxShortTimerMs: number;
  longTimerIntervalMs: number;
  /** Returns an error message when the named function cannot be scheduled. */
  validate(kind: 'activity' | 'subOrchestration', name: string): string | undefined;
}

export type ReplayFailureKind = 'NonDeterminism' | 'UnsupportedAction' | 'FunctionNotFound';

export class ReplayFailure extends Error {
  constructor(readonly kind: ReplayFailureKind, message: string) {
    super(message);
    this.name = `${kind}Error`;
  }
}

/** `canceledTimers`: ids of timers the orchestrator cancelled; nobody awaits them any more. */
export type ReplayOutcome = { ok: true; newWork: ScheduledWork[]; canceledTimers: number[] } | { ok: false; failure: ReplayFailure };

export function replayActions(history: HistoryEvent[], actions: OrchestratorAction[], options: ReplayOptions): ReplayOutcome {
  try {
    const replay = new ShimReplay(actions, options);
    return { ok: true, newWork: replay.run(history), canceledTimers: replay.canceledTimers };
  } catch (err) {
    if (err instanceof ReplayFailure) return { ok: false, failure: err };
    throw err;
  }
}

/** Resumes the awaiting shim code; `ok` is false when the awaited task failed. */
type Done = (ok: boolean) => void;
const SIX_DAYS_MS = 6 * 24 * 3600_000;

class ShimReplay {
  readonly canceledTimers: number[] = [];
  private nextId = 0;
  private readonly pending = new Map<number, ScheduledWork>();
  private readonly waiters = new Map<number, Done>();
  private readonly eventWaiters = new Map<string, Done[]>();
  private readonly bufferedEvents = new Map<string, number>();
  private currentUtc = new Date(0);
  private cursor = 0;
  private awaiting = false;
  private pumping = false;
  private pumpAgain = false;

  constructor(
    private readonly actions: OrchestratorAction[],
    private readonly options: ReplayOptions,
  ) {}

  run(history: HistoryEvent[]): ScheduledWork[] {
    for (const event of history) this.apply(event);
    return [...this.pending.values()].sort((a, b) => a.id - b.id);
  }

  private apply(event: HistoryEvent): void {
    switch (event.EventType) {
      case EventType.OrchestratorStarted: {
        const at = new Date(event.Timestamp);
        if (at > this.currentUtc) this.currentUtc = at;
        return;
      }
      case EventType.ExecutionStarted:
        return this.pump();
      case EventType.TaskScheduled:
        return this.match(event.EventId, 'activity', event.Name);
      case EventType.TimerCreated:
        return this.match(event.EventId, 'timer', undefined);
      case EventType.SubOrchestrationInstanceCreated:
        return this.match(event.EventId, 'subOrchestration', event.Name);
      case EventType.TaskCompleted:
      case EventType.SubOrchestrationInstanceCompleted:
        return this.complete(event.TaskScheduledId, true);
      case EventType.TaskFailed:
      case EventType.SubOrchestrationInstanceFailed:
        return this.complete(event.TaskScheduledId, false);
      case EventType.TimerFired:
        return this.complete(event.TimerId, true);
      case EventType.EventRaised:
        return this.raise(event.Name ?? '');
      default:
        return;
    }
  }

  /** The shim awaits each top-level action in turn; completions resume it re-entrantly. */
  private pump(): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    do {
      this.pumpAgain = false;
      while (!this.awaiting && this.cursor < this.actions.length) {
        const action = this.actions[this.cursor++]!;
        this.awaiting = true;
        this.start(action, () => {
          // The shim swallows task failures: the library decides what a failure means.
          this.awaiting = false;
          this.pump();
        });
      }
    } while (this.pumpAgain);
    this.pumping = false;
  }

  private start(action: OrchestratorAction, done: Done): void {
    switch (action.actionType) {
      case ActionType.CallActivity:
        return this.schedule({ kind: 'activity', name: required(action.functionName), input: action.input }, done);
      case ActionType.CallActivityWithRetry:
        return this.retry(action, (attemptDone) => this.start({ ...action, actionType: ActionType.CallActivity }, attemptDone), done);
      case ActionType.CallSubOrchestrator:
        if (this.refusesChildId(action.instanceId)) return done(false);
        return this.schedule(this.subOrchestration(action), done);
      case ActionType.CallSubOrchestratorWithRetry:
        if (this.refusesChildId(action.instanceId)) return done(false);
        return this.retry(action, (attemptDone) => this.start({ ...action, actionType: ActionType.CallSubOrchestrator }, attemptDone), done);
      case ActionType.ContinueAsNew:
        return done(true);
      case ActionType.CreateTimer:
        return this.timer(new Date(required(action.fireAt)), action.isCanceled === true, done);
      case ActionType.WaitForExternalEvent:
        return this.waitForEvent(required(action.externalEventName), done);
      case ActionType.WhenAll:
        return this.whenAll(action.compoundActions ?? [], done);
      case ActionType.WhenAny:
        return this.whenAny(action.compoundActions ?? [], done);
      default:
        throw new ReplayFailure(
          'UnsupportedAction',
          `The orchestrator used action type ${action.actionType} (${actionTypeName(action.actionType)}), which the local durable host does not support.`,
        );
    }
  }

  private schedule(work: NewWork, done: Done): void {
    if (work.kind !== 'timer') {
      const problem = this.options.validate(work.kind, work.name);
      if (problem) throw new ReplayFailure('FunctionNotFound', problem);
    }
    const id = this.nextId++;
    this.pending.set(id, { ...work, id } as ScheduledWork);
    this.waiters.set(id, done);
  }

  /**
   * The extension refuses a child id equal to this instance's or its parent's, or starting
   * with @ (DurableOrchestrationContext.cs, CallDurableTaskFunctionAsync). That method is
   * async, so the refusal only faults the task, which OutOfProcOrchestrationShim.cs swallows:
   * nothing is scheduled and the orchestrator waits for a child that never comes.
   */
  private refusesChildId(instanceId: string | undefined): boolean {
    if (!instanceId) return false;
    const same = (other: string | undefined): boolean => other !== undefined && other.toLowerCase() === instanceId.toLowerCase();
    return same(this.options.instanceId) || same(this.options.parentInstanceId) || instanceId.startsWith('@');
  }

  /**
   * Without an explicit id, DurableTask.Core names the child `<execution id>:<sequence number>`
   * (src/DurableTask.Core/TaskOrchestrationContext.cs, CreateSubOrchestrationInstanceCore):
   * the number is the id the schedule() below is about to take, and a new execution after
   * continueAsNew has a new execution id, so names never repeat.
   */
  private subOrchestration(action: OrchestratorAction): NewWork {
    const explicit = action.instanceId?.trim() ? action.instanceId : undefined;
    const instanceId = explicit ?? `${this.options.executionId}:${this.nextId}`;
    return { kind: 'subOrchestration', name: required(action.functionName), instanceId, input: action.input };
  }

  /**
   * DurableTask.Core's RetryInterceptor (src/DurableTask.Core/RetryInterceptor.cs): after a
   * failed attempt that is not the last, a timer at now + the next delay, or, once
   * `retryTimeout` has passed, no timer and the failure at once (the JavaScript library then
   * waits for a timer that never comes: azure-functions-durable-js issue #629). After the last
   * failed attempt, whatever the timeout, a "dummy timer for back-compat" due at the current
   * time, then the failure: the library expects a timer after every failure.
   */
  private retry(action: OrchestratorAction, attempt: (done: Done) => void, done: Done): void {
    const options = required(action.retryOptions);
    const firstAttempt = this.currentUtc.getTime();
    let retryCount = 0;
    const run = (): void =>
      attempt((ok) => {
        if (ok) return done(true);
        if (retryCount + 1 >= options.maxNumberOfAttempts) return this.schedule({ kind: 'timer', fireAt: new Date(this.currentUtc) }, () => done(false));
        const delay = this.nextRetryDelay(options, retryCount, firstAttempt);
        if (delay <= 0) return done(false);
        this.schedule({ kind: 'timer', fireAt: new Date(this.currentUtc.getTime() + delay) }, () => {
          retryCount++;
          run();
        });
      });
    run();
  }

  private nextRetryDelay(options: RetryOptionsJson, retryCount: number, firstAttempt: number): number {
    const timeout = options.retryTimeoutInMilliseconds ?? Number.POSITIVE_INFINITY;
    if (this.currentUtc.getTime() >= firstAttempt + timeout) return 0;
    const delay = options.firstRetryIntervalInMilliseconds * Math.pow(options.backoffCoefficient ?? 1, retryCount);
    return Math.min(delay, options.maxRetryIntervalInMilliseconds ?? SIX_DAYS_MS);
  }

  /** Long timers are split into segments, as the extension does for storage providers with a timer limit. */
  private timer(fireAt: Date, canceled: boolean, done: Done): void {
    const segment = (): void => {
      const remaining = fireAt.getTime() - this.currentUtc.getTime();
      const isLast = remaining <= this.options.maxShortTimerMs;
      const next = isLast ? fireAt : new Date(this.currentUtc.getTime() + this.options.longTimerIntervalMs);
      this.schedule({ kind: 'timer', fireAt: next }, isLast ? done : segment);
    };
    segment();
    if (canceled) {
      // A cancelled timer is still created, but its awaiter resumes at once.
      this.waiters.delete(this.nextId - 1);
      this.canceledTimers.push(this.nextId - 1);
      done(true);
    }
  }

  private waitForEvent(name: string, done: Done): void {
    const buffered = this.bufferedEvents.get(name) ?? 0;
    if (buffered > 0) {
      this.bufferedEvents.set(name, buffered - 1);
      return done(true);
    }
    const list = this.eventWaiters.get(name) ?? [];
    list.push(done);
    this.eventWaiters.set(name, list);
  }

  private whenAll(children: OrchestratorAction[], done: Done): void {
    let remaining = children.length;
    let allOk = true;
    if (remaining === 0) return done(true);
    for (const child of children) {
      this.start(child, (ok) => {
        allOk &&= ok;
        if (--remaining === 0) done(allOk);
      });
    }
  }

  private whenAny(children: OrchestratorAction[], done: Done): void {
    let settled = false;
    for (const child of children) {
      this.start(child, (ok) => {
        if (settled) return;
        settled = true;
        done(ok);
      });
    }
  }

  private match(id: number, kind: ScheduledWork['kind'], name: string | undefined): void {
    const scheduled = this.pending.get(id);
    const recorded = describe(kind, name);
    const advice = 'Was a change made to the orchestrator code after this instance had already started running?';
    if (!scheduled) {
      throw new ReplayFailure(
        'NonDeterminism',
        `Non-deterministic workflow detected: a previous execution of this orchestration scheduled ${recorded} with sequence ID ${id}, ` +
          `but the current replay execution hasn't (yet?) scheduled this task. ${advice}`,
      );
    }
    const replayed = describe(scheduled.kind, scheduled.kind === 'timer' ? undefined : scheduled.name);
    if (replayed !== recorded) {
      throw new ReplayFailure(
        'NonDeterminism',
        `Non-deterministic workflow detected: a previous execution of this orchestration scheduled ${recorded} with sequence ID ${id}, ` +
          `but the current replay execution instead produced ${replayed}. ${advice}`,
      );
    }
    this.pending.delete(id);
  }

  private complete(id: number | undefined, ok: boolean): void {
    if (id === undefined) return;
    const waiter = this.waiters.get(id);
    if (!waiter) return;
    this.waiters.delete(id);
    waiter(ok);
  }

  private raise(name: string): void {
    const list = this.eventWaiters.get(name);
    const waiter = list?.shift();
    if (waiter) return waiter(true);
    this.bufferedEvents.set(name, (this.bufferedEvents.get(name) ?? 0) + 1);
  }
}

function describe(kind: ScheduledWork['kind'], name: string | undefined): string {
  if (kind === 'timer') return 'a durable timer';
  return `${kind === 'activity' ? 'an activity task' : 'a sub-orchestration'} named '${name ?? ''}'`;
}

function required<T>(value: T | undefined): T {
  if (value === undefined) throw new ReplayFailure('UnsupportedAction', 'The orchestrator returned an action with a missing field.');
  return value;
}

function actionTypeName(type: number): string {
  return Object.entries(ActionType).find(([, v]) => v === type)?.[0] ?? 'Unknown';
}

export function defaultMaxShortTimerMs(): number {
  return SIX_DAYS_MS;
}
