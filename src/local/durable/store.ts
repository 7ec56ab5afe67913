import { EventType, fromJsonText, type HistoryEvent } from './history';

export type RuntimeStatus = 'Pending' | 'Running' | 'Completed' | 'Failed' | 'Terminated';

const TERMINAL: ReadonlySet<RuntimeStatus> = new Set(['Completed', 'Failed', 'Terminated']);

export function isTerminal(status: RuntimeStatus): boolean {
  return TERMINAL.has(status);
}

export interface ParentLink {
  instanceId: string;
  executionId: string;
  taskScheduledId: number;
}

/** One orchestration instance as the task hub keeps it: committed history plus undelivered messages. */
export interface InstanceRecord {
  instanceId: string;
  name: string;
  executionId: string;
  createdTime: string;
  lastUpdatedTime: string;
  runtimeStatus: RuntimeStatus;
  /** JSON text, as stored: input, output (or the failure message), custom status. */
  input?: string;
  output?: string;
  customStatus?: string;
  failureDetails?: string;
  history: HistoryEvent[];
  inbox: HistoryEvent[];
  parent?: ParentLink;
  episodes: number;
}

/** An activity message in the work-item queue; it stays there until its result is committed. */
export interface ActivityWorkItem {
  key: string;
  instanceId: string;
  executionId: string;
  taskScheduledId: number;
  name: string;
  input: unknown;
}

export interface TimerItem {
  instanceId: string;
  executionId: string;
  timerId: number;
  fireAt: string;
}

/** Everything a restarted host needs: exportState() returns it, `new DurableHost({ state })` takes it. */
export interface DurableState {
  version: 1;
  clockNow: string;
  instances: Record<string, InstanceRecord>;
  activities: ActivityWorkItem[];
  timers: TimerItem[];
}

export function emptyState(now: Date): DurableState {
  return { version: 1, clockNow: now.toISOString(), instances: {}, activities: [], timers: [] };
}

export function cloneState(state: DurableState): DurableState {
  return JSON.parse(JSON.stringify(state)) as DurableState;
}

/** The shape of durable-functions' DurableOrchestrationStatus. */
export interface OrchestrationStatus {
  name: string;
  instanceId: string;
  createdTime: Date;
  lastUpdatedTime: Date;
  input: unknown;
  output: unknown;
  runtimeStatus: RuntimeStatus;
  customStatus?: unknown;
  history?: HistoryEvent[];
}

export function toStatus(record: InstanceRecord, showHistory = false): OrchestrationStatus {
  return {
    name: record.name,
    instanceId: record.instanceId,
    createdTime: new Date(record.createdTime),
    lastUpdatedTime: new Date(record.lastUpdatedTime),
    input: nullIfUndefined(fromJsonText(record.input)),
    output: nullIfUndefined(fromJsonText(record.output)),
    runtimeStatus: record.runtimeStatus,
    customStatus: nullIfUndefined(fromJsonText(record.customStatus)),
    ...(showHistory ? { history: cloneEvents(record.history) } : {}),
  };
}

/** The extension's HTTP status payload (StatusResponsePayload): times to the second, history as `historyEvents`. */
export function toStatusPayload(record: InstanceRecord, showHistory: boolean, showInput: boolean): Record<string, unknown> {
  const status = toStatus(record);
  return {
    name: status.name,
    instanceId: status.instanceId,
    runtimeStatus: status.runtimeStatus,
    input: showInput ? status.input : null,
    customStatus: status.customStatus,
    output: status.output,
    createdTime: toSeconds(record.createdTime),
    lastUpdatedTime: toSeconds(record.lastUpdatedTime),
    ...(showHistory ? { historyEvents: cloneEvents(record.history).map(withTypeName) } : {}),
  };
}

export function cloneEvents(events: HistoryEvent[]): HistoryEvent[] {
  return JSON.parse(JSON.stringify(events)) as HistoryEvent[];
}

function withTypeName(event: HistoryEvent): Record<string, unknown> {
  const name = Object.entries(EventType).find(([, v]) => v === event.EventType)?.[0];
  return { ...event, EventType: name ?? event.EventType };
}

function toSeconds(iso: string): string {
  return `${iso.slice(0, 19)}Z`;
}

function nullIfUndefined(value: unknown): unknown {
  return value === undefined ? null : value;
}
