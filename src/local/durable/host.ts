import { randomBytes, randomUUID } from 'node:crypto';
import type { HttpRequest, HttpResponse, Timer } from '@azure/functions';
import { installFunctionsCore, triggerOf, type FunctionRegistry, type LogCategory, type LogLevel } from '../functions-core';
import { createClock, type Clock } from './clock';
import { failedEpisode } from './episode';
import { checkInstanceId, HostCrashedError, InstanceExistsError, InstanceNotFoundError, UnknownOrchestratorError } from './errors';
import { events, toJsonText, type HistoryEvent } from './history';
import { DurableHttpApi, type DurableApiBackend, type Outcome } from './http-api';
import type { LogSink } from './invoke';
import { defaultMaxShortTimerMs } from './replay';
import { cloneEvents, cloneState, emptyState, isTerminal, toStatus, toStatusPayload, type ActivityWorkItem, type DurableState, type InstanceRecord, type OrchestrationStatus } from './store';
import { findOccurrences, type Occurrence } from './scan';
import { StartRace } from './start-race';
import { TaskHub } from './task-hub';
import { TriggerInvoker } from './triggers';
import { CompletionWaiters } from './waiters';
import { crashMatcher, runActivity, runEpisode, type WorkerDeps, type WorkerLimits } from './worker';

export interface LogEntry {
  level: LogLevel;
  category: LogCategory;
  message: string;
  functionName: string;
  instanceId?: string;
  timestamp: string;
}

export interface DurableHostOptions extends Partial<WorkerLimits> {
  /** 'virtual' (default): when only timers are pending, time jumps to the next one. 'real': timers wait. */
  clock?: 'virtual' | 'real';
  /** Virtual clock only: the time the host starts at. */
  startTime?: Date;
  /** A durable store from exportState(): the host continues from it once resume() is called. */
  state?: DurableState;
  /**
   * Called with a copy of the store after every change to it, as a task hub writes its tables
   * and queues: a process that saves it can die at any moment and a new one resume from it.
   */
  persist?: (state: DurableState) => void;
  /** Activity errors that simulate the process dying mid-activity (nothing is recorded for it). */
  isCrash?: (error: unknown) => boolean;
  logger?: (entry: LogEntry) => void;
  registry?: FunctionRegistry;
  taskHubName?: string;
  /**
   * The extension's maxConcurrentActivityFunctions and maxConcurrentOrchestratorFunctions: how
   * many activities and orchestrator episodes run at once. Azure's default for each is 10 × the
   * processor count (DurableTaskOptions.cs in Azure/azure-functions-durable-extension).
   */
  maxConcurrentActivities?: number;
  maxConcurrentOrchestrations?: number;
}

/**
 * An in-process Durable Functions host. It drives the real durable-functions library by
 * replaying history episode by episode, runs activities through their registered handlers,
 * fires durable timers on a (virtual) clock, and serves the extension's client HTTP API so
 * that the real DurableClient works inside triggers. Its store can be exported and resumed
 * by a new host: a crash and a restart that redelivers the un-acknowledged work.
 */
export class DurableHost {
  readonly logs: LogEntry[] = [];
  readonly registry: FunctionRegistry;
  private readonly clock: Clock;
  private readonly hub: TaskHub;
  private readonly deps: WorkerDeps;
  private readonly maxConcurrentActivities: number;
  private readonly maxConcurrentOrchestrations: number;
  private readonly runningEpisodes = new Set<string>();
  private readonly runningActivities = new Set<string>();
  private readonly waiters = new CompletionWaiters();
  private readonly startRace = new StartRace();
  /** Starts between reading and writing the instance row: the virtual clock must not jump past them. */
  private startsInFlight = 0;
  private readonly api: DurableHttpApi;
  private readonly triggers: TriggerInvoker;
  private readonly systemKey = randomBytes(24).toString('base64url');
  private readonly taskHubName: string;
  private crashed: HostCrashedError | undefined;
  private closed = false;
  private drainQueued = false;
  private realTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: DurableHostOptions = {}) {
    this.registry = options.registry ?? installFunctionsCore();
    const saved = options.state;
    this.clock = createClock(options.clock ?? 'virtual', saved ? new Date(Math.max(Date.parse(saved.clockNow), Date.now())) : options.startTime);
    const state = saved ? cloneState(saved) : emptyState(this.clock.now());
    this.hub = new TaskHub(state, () => this.clock.now(), (record) => this.waiters.settle(record));
    this.deps = {
      registry: this.registry,
      limits: {
        maxEpisodesPerInstance: options.maxEpisodesPerInstance ?? 1000,
        activityTimeoutMs: options.activityTimeoutMs ?? 120_000,
        orchestratorTimeoutMs: options.orchestratorTimeoutMs ?? 30_000,
        maxShortTimerMs: options.maxShortTimerMs ?? defaultMaxShortTimerMs(),
        longTimerIntervalMs: options.longTimerIntervalMs ?? 3 * 24 * 3600_000,
      },
      now: () => this.clock.now(),
      logSink: (name, instanceId) => this.logSink(name, instanceId),
      isCrash: crashMatcher(options.isCrash),
    };
    this.maxConcurrentActivities = options.maxConcurrentActivities ?? 32;
    this.maxConcurrentOrchestrations = options.maxConcurrentOrchestrations ?? Number.POSITIVE_INFINITY;
    this.taskHubName = options.taskHubName ?? 'LocalTaskHub';
    this.api = new DurableHttpApi(this.apiBackend());
    this.triggers = new TriggerInvoker(this.registry, () => this.clientInputData(), (name) => this.logSink(name), () => this.now());
  }

  // ---- the durable client's operations ------------------------------------------------

  /**
   * Azure Storage's CreateTaskOrchestrationAsync (Azure/durabletask src/DurableTask.AzureStorage/
   * AzureStorageOrchestrationService.cs) reads the instance's row, refuses a Pending or Running
   * one (overridableExistingInstanceStates: NonRunningStates), sends the ExecutionStarted
   * message, then inserts the row (or replaces it under the ETag it read). A racing start that
   * wrote first makes that write fail with 409 or 412, which SetNewExecutionAsync
   * (Tracking/AzureTableTrackingStore.cs) ignores: the call is answered as a success, its
   * message no longer matches the row's execution id and is discarded
   * (OrchestrationSessionManager.cs, DedupeExecutionStartedMessagesAsync), and only the
   * winner's execution, with the winner's input, runs.
   */
  async startNew(orchestratorName: string, options: { instanceId?: string; input?: unknown } = {}): Promise<string> {
    this.ensureAlive();
    const fn = this.registry.get(orchestratorName);
    if (!fn || triggerOf(fn).type !== 'orchestrationTrigger') throw new UnknownOrchestratorError(orchestratorName);
    const instanceId = options.instanceId || randomUUID().replace(/-/g, '');
    checkInstanceId(instanceId);
    const read = this.hub.instance(instanceId);
    if (read && !isTerminal(read.runtimeStatus)) throw new InstanceExistsError(instanceId, read.runtimeStatus);
    this.startsInFlight++;
    try {
      await this.startRace.sendStartMessage(instanceId);
      this.ensureAlive();
      if (this.hub.instance(instanceId) !== read) {
        this.logSink('DurableTask.AzureStorage', instanceId)('warning', 'system', `Start of '${instanceId}' answered as accepted, but another start wrote the instance row first; this start's execution never runs.`);
        return instanceId;
      }
      this.hub.create(orchestratorName, instanceId, toJsonText(options.input));
      return instanceId;
    } finally {
      this.startsInFlight--;
      this.kick();
    }
  }

  /**
   * Fault injection: the next `count` starts of `instanceId` all read the instance row before
   * any of them writes it, the widest race the Azure Storage backend allows.
   */
  interleaveStarts(instanceId: string, count: number): void {
    this.startRace.interleave(instanceId, count);
  }

  /** Rejects for an unknown instance, as the v3 DurableClient does. */
  async getStatus(instanceId: string, options: { showHistory?: boolean } = {}): Promise<OrchestrationStatus> {
    return toStatus(this.record(instanceId), options.showHistory ?? false);
  }

  listInstances(): OrchestrationStatus[] {
    return this.hub.records().map((r) => toStatus(r));
  }

  async raiseEvent(instanceId: string, eventName: string, eventData?: unknown): Promise<void> {
    this.ensureAlive();
    this.record(instanceId);
    this.send(instanceId, events.eventRaised(this.clock.now(), eventName, toJsonText(eventData)));
  }

  async terminate(instanceId: string, reason?: string): Promise<void> {
    this.ensureAlive();
    this.record(instanceId);
    this.send(instanceId, events.executionTerminated(this.clock.now(), reason));
  }

  async purgeInstanceHistory(instanceId: string): Promise<{ instancesDeleted: number }> {
    return { instancesDeleted: this.hub.purge(instanceId) };
  }

  /** Resolves with the final status; rejects on timeout, or with HostCrashedError when the host dies. */
  async waitForCompletion(instanceId: string, options: { timeoutMs?: number } = {}): Promise<OrchestrationStatus> {
    if (this.crashed) throw this.crashed;
    const record = this.record(instanceId);
    if (isTerminal(record.runtimeStatus)) return toStatus(record);
    const timeoutMs = options.timeoutMs ?? 30_000;
    return this.waiters.wait(instanceId, timeoutMs, () => this.timeoutError(instanceId, timeoutMs));
  }

  /**
   * Resolves once nothing is left to do: no episode or activity running or queued and, on the
   * virtual clock, no timer left to fire (instances may still wait for external events).
   */
  async whenIdle(options: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    const settled = (): boolean => !this.drainQueued && this.isIdle() && (this.clock.kind === 'real' || this.hub.nextTimerAt() === undefined);
    while (!settled()) {
      if (this.crashed) throw this.crashed;
      if (Date.now() > deadline) throw new Error(`The durable host was still busy after ${options.timeoutMs ?? 30_000} ms.`);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  /**
   * Every place a value (a secret) appears in what the task hub stores (inputs, outputs,
   * custom statuses, history, queued work) or in a captured log line.
   */
  findOccurrences(values: string[]): Occurrence[] {
    return [...findOccurrences(this.exportState(), 'store', values), ...findOccurrences(this.logs, 'logs', values)];
  }

  /** The recorded history, with the event types and fields the task hub stores. */
  history(instanceId: string): HistoryEvent[] {
    return cloneEvents(this.record(instanceId).history);
  }

  now(): Date {
    return this.clock.now();
  }

  /** A JSON-serialisable copy of the durable store: histories, statuses, queued work, clock. */
  exportState(): DurableState {
    return cloneState({ ...this.hub.state, clockNow: this.clock.now().toISOString() });
  }

  /** Redelivers what the store holds: un-acknowledged activities, undelivered messages, timers. */
  resume(): void {
    this.ensureAlive();
    this.kick();
  }

  get isCrashed(): boolean {
    return this.crashed !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.realTimer);
    this.waiters.rejectAll((id) => new Error(`The durable host was closed while waiting for '${id}'.`));
    await this.api.close();
  }

  // ---- triggers and the local HTTP endpoint -------------------------------------------

  /** Starts the local endpoint (extension client API, /api routes); returns its origin. */
  listen(): Promise<string> {
    return this.api.listen();
  }

  /** The `durableClient` binding data a trigger receives. */
  async clientInputData(): Promise<Record<string, unknown>> {
    await this.listen();
    return this.api.clientInputData();
  }

  invokeHttp(functionName: string, request: HttpRequest): Promise<HttpResponse> {
    this.ensureAlive();
    return this.triggers.http(functionName, request);
  }

  invokeTimer(functionName: string, timer?: Partial<Timer>): Promise<unknown> {
    this.ensureAlive();
    return this.triggers.timer(functionName, timer);
  }

  invokeEventGrid(functionName: string, event: unknown): Promise<unknown> {
    this.ensureAlive();
    return this.triggers.eventGrid(functionName, event);
  }

  // ---- scheduling -------------------------------------------------------------------------

  /** Every change to the store is followed by a kick, so the store is saved here. */
  private kick(): void {
    if (this.alive()) this.options.persist?.(this.exportState());
    if (this.drainQueued || !this.alive()) return;
    this.drainQueued = true;
    setImmediate(() => {
      this.drainQueued = false;
      this.drain();
    });
  }

  private drain(): void {
    if (!this.alive()) return;
    for (const record of this.hub.records()) {
      if (this.runningEpisodes.size >= this.maxConcurrentOrchestrations) break;
      if (record.inbox.length > 0 && !this.runningEpisodes.has(record.instanceId)) this.startEpisode(record);
    }
    for (const item of this.hub.state.activities) {
      if (this.runningActivities.size >= this.maxConcurrentActivities) break;
      if (!this.runningActivities.has(item.key)) this.startActivity(item);
    }
    this.handleTimers();
  }

  /**
   * A due timer fires whatever else is in flight, as on Azure, where it is a TimerFired
   * message scheduled for its FireAt (DurableTask.Core TaskOrchestrationDispatcher.cs,
   * ProcessCreateTimerDecision): while anything runs, both clocks follow wall time and a
   * real timeout delivers the next timer, so a deadline can beat a slow activity. Only when
   * nothing but timers is pending does the virtual clock jump to the earliest one.
   */
  private handleTimers(): void {
    clearTimeout(this.realTimer);
    if (this.hub.takeDueTimers()) return this.kick();
    const next = this.hub.nextTimerAt();
    if (next === undefined) return;
    if (this.clock.kind === 'virtual' && this.isIdle()) {
      this.clock.advanceTo(new Date(next));
      this.hub.takeDueTimers();
      return this.kick();
    }
    const wait = Math.max(0, next - this.clock.now().getTime());
    this.realTimer = setTimeout(() => this.kick(), Math.min(wait, 2_147_483_647));
  }

  /** Nothing but timers pending: no start, episode or activity running or queued, no message waiting. */
  private isIdle(): boolean {
    if (this.runningEpisodes.size > 0 || this.runningActivities.size > 0 || this.startsInFlight > 0) return false;
    return this.hub.state.activities.length === 0 && !this.hub.hasMessages();
  }

  private startEpisode(record: InstanceRecord): void {
    const { instanceId } = record;
    this.runningEpisodes.add(instanceId);
    const messages = record.inbox.slice();
    const now = this.clock.now();
    runEpisode(this.deps, record, messages, now)
      .then((plan) => {
        if (!this.alive() || this.hub.instance(instanceId) !== record) return;
        if (plan.kind === 'discard') this.hub.discardMessages(record, messages.length);
        else if (plan.kind === 'terminate') this.hub.commitTermination(record, messages.length, plan.newEvents, plan.reason, now);
        else this.hub.commitEpisode(record, messages.length, plan.decision, now);
      })
      .catch((err: unknown) => this.failOnHostError(record, err))
      .finally(() => {
        this.runningEpisodes.delete(instanceId);
        this.kick();
      });
  }

  private startActivity(item: ActivityWorkItem): void {
    this.runningActivities.add(item.key);
    runActivity(this.deps, item)
      .then((outcome) => {
        if (outcome.kind === 'crash') return this.crash(outcome.error);
        if (this.alive()) this.hub.completeActivity(item, outcome.event);
      })
      .catch((err: unknown) => this.failOnHostError(this.hub.instance(item.instanceId), err))
      .finally(() => {
        this.runningActivities.delete(item.key);
        this.kick();
      });
  }

  // ---- crash, waiters, helpers --------------------------------------------------------

  /** The process dies: nothing more runs or commits; waiters learn of it. */
  private crash(error: unknown): void {
    if (this.crashed) return;
    this.crashed = new HostCrashedError(error);
    clearTimeout(this.realTimer);
    const crashed = this.crashed;
    this.waiters.rejectAll(() => crashed);
  }

  private send(instanceId: string, event: HistoryEvent): Outcome {
    if (!this.hub.instance(instanceId)) return 'notFound';
    if (!this.hub.deliver(instanceId, undefined, event)) return 'gone';
    this.kick();
    return 'accepted';
  }

  private record(instanceId: string): InstanceRecord {
    const record = this.hub.instance(instanceId);
    if (!record) throw new InstanceNotFoundError(instanceId);
    return record;
  }

  private alive(): boolean {
    return !this.crashed && !this.closed;
  }

  private ensureAlive(): void {
    if (this.crashed) throw this.crashed;
    if (this.closed) throw new Error('The durable host is closed.');
  }

  private logSink(functionName: string, instanceId?: string): LogSink {
    return (level, category, message) => {
      const entry: LogEntry = { level, category, message, functionName, instanceId, timestamp: new Date().toISOString() };
      this.logs.push(entry);
      this.options.logger?.(entry);
    };
  }

  /** A bug in the host itself fails the instance rather than hanging whoever waits for it. */
  private failOnHostError(record: InstanceRecord | undefined, err: unknown): void {
    if (!record || isTerminal(record.runtimeStatus) || !this.alive()) return;
    const now = this.clock.now();
    const message = `Local durable host error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`;
    this.hub.commitEpisode(record, 0, failedEpisode({ newEvents: [events.orchestratorStarted(now)], now }, message), now);
  }

  private timeoutError(instanceId: string, timeoutMs: number): Error {
    const record = this.hub.instance(instanceId);
    const activities = this.hub.state.activities.filter((a) => a.instanceId === instanceId).map((a) => a.name);
    const timers = this.hub.state.timers.filter((t) => t.instanceId === instanceId).map((t) => t.fireAt);
    return new Error(
      `Timed out after ${timeoutMs} ms waiting for instance '${instanceId}' (status ${record?.runtimeStatus ?? 'purged'}; ` +
        `queued activities: [${activities.join(', ')}]; timers: [${timers.join(', ')}]).`,
    );
  }

  private apiBackend(): DurableApiBackend {
    const now = (): Date => this.clock.now();
    return {
      taskHubName: this.taskHubName,
      systemKey: this.systemKey,
      startNew: (name, instanceId, input) => this.startNew(name, { instanceId, input }),
      status: (instanceId, showHistory, showInput) => {
        const record = this.hub.instance(instanceId);
        return record && { running: !isTerminal(record.runtimeStatus), body: toStatusPayload(record, showHistory, showInput) };
      },
      list: () => this.hub.records().map((r) => toStatusPayload(r, false, true)),
      raiseEvent: (instanceId, eventName, data) => this.send(instanceId, events.eventRaised(now(), eventName, toJsonText(data))),
      terminate: (instanceId, reason) => this.send(instanceId, events.executionTerminated(now(), reason)),
      purge: (instanceId) => this.hub.purge(instanceId),
      handleApp: (request) => this.triggers.serve(request),
    };
  }
}
