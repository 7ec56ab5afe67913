import { randomUUID } from 'node:crypto';
import type { EpisodeDecision } from './episode';
import { events, toJsonText, type HistoryEvent } from './history';
import type { ScheduledWork } from './replay';
import { isTerminal, type ActivityWorkItem, type DurableState, type InstanceRecord, type ParentLink } from './store';

/**
 * The durable store and every change to it. Each method is one atomic commit, as a task
 * hub transaction would be: nothing here awaits, so a crash can only happen between commits.
 */
export class TaskHub {
  constructor(
    readonly state: DurableState,
    private readonly now: () => Date,
    private readonly onFinished: (record: InstanceRecord) => void,
  ) {}

  instance(instanceId: string): InstanceRecord | undefined {
    return this.state.instances[instanceId];
  }

  records(): InstanceRecord[] {
    return Object.values(this.state.instances);
  }

  hasMessages(): boolean {
    return this.records().some((r) => r.inbox.length > 0);
  }

  create(name: string, instanceId: string, input: string | undefined, parent?: { link: ParentLink; name: string }): InstanceRecord {
    const now = this.now();
    const executionId = newId();
    const parentInstance = parent && {
      Name: parent.name,
      TaskScheduleId: parent.link.taskScheduledId,
      OrchestrationInstance: { InstanceId: parent.link.instanceId, ExecutionId: parent.link.executionId },
    };
    const record: InstanceRecord = {
      instanceId,
      name,
      executionId,
      createdTime: now.toISOString(),
      lastUpdatedTime: now.toISOString(),
      runtimeStatus: 'Pending',
      input,
      history: [],
      inbox: [events.executionStarted(now, { name, input, instanceId, executionId, parent: parentInstance })],
      parent: parent?.link,
      episodes: 0,
    };
    this.state.instances[instanceId] = record;
    return record;
  }

  /** Queues a message for an instance if it (and, when given, that execution) is still running. */
  deliver(instanceId: string, executionId: string | undefined, event: HistoryEvent): boolean {
    const record = this.instance(instanceId);
    if (!record || isTerminal(record.runtimeStatus)) return false;
    if (executionId !== undefined && record.executionId !== executionId) return false;
    record.inbox.push(event);
    return true;
  }

  purge(instanceId: string): number {
    if (!this.instance(instanceId)) return 0;
    delete this.state.instances[instanceId];
    this.state.activities = this.state.activities.filter((a) => a.instanceId !== instanceId);
    this.state.timers = this.state.timers.filter((t) => t.instanceId !== instanceId);
    return 1;
  }

  /** Messages that reached an instance after it finished are dropped, as the real hub discards them. */
  discardMessages(record: InstanceRecord, consumed: number): void {
    record.inbox.splice(0, consumed);
  }

  commitEpisode(record: InstanceRecord, consumed: number, decision: EpisodeDecision, now: Date): void {
    record.history.push(...decision.appended);
    record.inbox.splice(0, consumed);
    record.episodes++;
    record.lastUpdatedTime = now.toISOString();
    if (decision.customStatus !== undefined) record.customStatus = decision.customStatus;
    if (decision.continueAsNewInput) this.restartExecution(record, decision.continueAsNewInput.text, now);
    else {
      record.runtimeStatus = decision.status;
      record.output = decision.output;
      record.failureDetails = decision.failureDetails;
    }
    for (const work of decision.newWork) this.dispatch(record, work, now);
    this.dropTimers(record, decision.canceledTimers ?? []);
    if (isTerminal(record.runtimeStatus)) this.finish(record);
  }

  private dropTimers(record: InstanceRecord, timerIds: number[]): void {
    if (timerIds.length === 0) return;
    const dropped = (t: { instanceId: string; executionId: string; timerId: number }): boolean =>
      t.instanceId === record.instanceId && t.executionId === record.executionId && timerIds.includes(t.timerId);
    this.state.timers = this.state.timers.filter((t) => !dropped(t));
  }

  commitTermination(record: InstanceRecord, consumed: number, newEvents: HistoryEvent[], reason: string | undefined, now: Date): void {
    const output = toJsonText(reason ?? '');
    record.history.push(...newEvents, events.executionCompleted(now, 'Terminated', output), events.orchestratorCompleted(now));
    record.inbox.splice(0, consumed);
    record.lastUpdatedTime = now.toISOString();
    record.runtimeStatus = 'Terminated';
    record.output = output;
    this.finish(record);
  }

  /** Acknowledges an activity message and hands its result to the orchestration. */
  completeActivity(item: ActivityWorkItem, event: HistoryEvent): void {
    this.state.activities = this.state.activities.filter((a) => a.key !== item.key);
    this.deliver(item.instanceId, item.executionId, event);
  }

  takeDueTimers(): boolean {
    const now = this.now();
    const due = this.state.timers.filter((t) => Date.parse(t.fireAt) <= now.getTime());
    if (due.length === 0) return false;
    this.state.timers = this.state.timers.filter((t) => !due.includes(t));
    for (const t of due) this.deliver(t.instanceId, t.executionId, events.timerFired(now, t.timerId, t.fireAt));
    return true;
  }

  nextTimerAt(): number | undefined {
    return this.state.timers.reduce<number | undefined>((min, t) => Math.min(min ?? Infinity, Date.parse(t.fireAt)), undefined);
  }

  private restartExecution(record: InstanceRecord, input: string | undefined, now: Date): void {
    record.executionId = newId();
    record.history = [];
    record.input = input;
    record.output = undefined;
    record.runtimeStatus = 'Running';
    record.inbox.unshift(events.executionStarted(now, { name: record.name, input, instanceId: record.instanceId, executionId: record.executionId }));
  }

  private dispatch(record: InstanceRecord, work: ScheduledWork, now: Date): void {
    const { instanceId, executionId } = record;
    if (work.kind === 'activity') {
      this.state.activities.push({ key: `${executionId}:${work.id}`, instanceId, executionId, taskScheduledId: work.id, name: work.name, input: work.input });
    } else if (work.kind === 'timer') {
      this.state.timers.push({ instanceId, executionId, timerId: work.id, fireAt: work.fireAt.toISOString() });
    } else {
      this.startSubOrchestration(record, work, now);
    }
  }

  private startSubOrchestration(parent: InstanceRecord, work: Extract<ScheduledWork, { kind: 'subOrchestration' }>, now: Date): void {
    const existing = this.instance(work.instanceId);
    if (existing && !isTerminal(existing.runtimeStatus)) {
      const reason = `An orchestration instance with ID '${work.instanceId}' already exists with status ${existing.runtimeStatus}.`;
      parent.inbox.push(events.subOrchestrationFailed(now, work.id, reason, ''));
      return;
    }
    const link: ParentLink = { instanceId: parent.instanceId, executionId: parent.executionId, taskScheduledId: work.id };
    this.create(work.name, work.instanceId, toJsonText(work.input), { link, name: parent.name });
  }

  /** A finished instance: drop its timers, tell its parent, tell the host. */
  private finish(record: InstanceRecord): void {
    this.state.timers = this.state.timers.filter((t) => t.instanceId !== record.instanceId || t.executionId !== record.executionId);
    if (record.parent) this.deliver(record.parent.instanceId, record.parent.executionId, this.completionForParent(record));
    this.onFinished(record);
  }

  private completionForParent(child: InstanceRecord): HistoryEvent {
    const now = this.now();
    const id = child.parent!.taskScheduledId;
    if (child.runtimeStatus === 'Completed') return events.subOrchestrationCompleted(now, id, child.output ?? 'null');
    const reason =
      child.runtimeStatus === 'Terminated' ? `Orchestration '${child.instanceId}' was terminated.` : (child.failureDetails ?? 'Sub-orchestration failed.');
    return events.subOrchestrationFailed(now, id, reason, '');
  }
}

function newId(): string {
  return randomUUID().replace(/-/g, '');
}
