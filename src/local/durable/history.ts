/**
 * History events as the Durable Task framework stores them in the task hub and sends them
 * to out-of-process orchestrators (PascalCase fields, numeric EventType).
 */

export const EventType = {
  ExecutionStarted: 0,
  ExecutionCompleted: 1,
  ExecutionTerminated: 3,
  TaskScheduled: 4,
  TaskCompleted: 5,
  TaskFailed: 6,
  SubOrchestrationInstanceCreated: 7,
  SubOrchestrationInstanceCompleted: 8,
  SubOrchestrationInstanceFailed: 9,
  TimerCreated: 10,
  TimerFired: 11,
  OrchestratorStarted: 12,
  OrchestratorCompleted: 13,
  EventRaised: 15,
  ContinueAsNew: 16,
} as const;

export type EventTypeName = keyof typeof EventType;
export type EventTypeValue = (typeof EventType)[EventTypeName];

export interface HistoryEvent {
  EventType: EventTypeValue;
  EventId: number;
  Timestamp: string;
  IsPlayed: boolean;
  Name?: string;
  Input?: string;
  Result?: string;
  Reason?: string;
  Details?: string;
  TaskScheduledId?: number;
  TimerId?: number;
  FireAt?: string;
  InstanceId?: string;
  OrchestrationStatus?: 'Completed' | 'Failed' | 'Terminated' | 'ContinuedAsNew';
  OrchestrationInstance?: { InstanceId: string; ExecutionId: string };
  ParentInstance?: ParentInstance;
}

export interface ParentInstance {
  Name: string;
  TaskScheduleId: number;
  OrchestrationInstance: { InstanceId: string; ExecutionId: string };
}

export function eventTypeName(type: number): string {
  const entry = Object.entries(EventType).find(([, value]) => value === type);
  return entry ? entry[0] : `Unknown(${type})`;
}

function base(type: EventTypeValue, at: Date, eventId = -1): HistoryEvent {
  return { EventType: type, EventId: eventId, Timestamp: at.toISOString(), IsPlayed: false };
}

export const events = {
  orchestratorStarted: (at: Date): HistoryEvent => base(EventType.OrchestratorStarted, at),
  orchestratorCompleted: (at: Date): HistoryEvent => base(EventType.OrchestratorCompleted, at),
  executionStarted: (at: Date, o: { name: string; input?: string; instanceId: string; executionId: string; parent?: ParentInstance }): HistoryEvent => ({
    ...base(EventType.ExecutionStarted, at),
    Name: o.name,
    Input: o.input,
    OrchestrationInstance: { InstanceId: o.instanceId, ExecutionId: o.executionId },
    ParentInstance: o.parent,
  }),
  executionCompleted: (at: Date, status: 'Completed' | 'Failed' | 'Terminated', result?: string, details?: string): HistoryEvent => ({
    ...base(EventType.ExecutionCompleted, at),
    OrchestrationStatus: status,
    Result: result,
    Details: details,
  }),
  executionTerminated: (at: Date, reason?: string): HistoryEvent => ({ ...base(EventType.ExecutionTerminated, at), Input: reason }),
  continueAsNew: (at: Date, input?: string): HistoryEvent => ({ ...base(EventType.ContinueAsNew, at), Result: input }),
  taskScheduled: (at: Date, id: number, name: string, input?: string): HistoryEvent => ({ ...base(EventType.TaskScheduled, at, id), Name: name, Input: input }),
  taskCompleted: (at: Date, taskScheduledId: number, result: string): HistoryEvent => ({ ...base(EventType.TaskCompleted, at), TaskScheduledId: taskScheduledId, Result: result }),
  taskFailed: (at: Date, taskScheduledId: number, reason: string, details: string): HistoryEvent => ({
    ...base(EventType.TaskFailed, at),
    TaskScheduledId: taskScheduledId,
    Reason: reason,
    Details: details,
  }),
  timerCreated: (at: Date, id: number, fireAt: Date): HistoryEvent => ({ ...base(EventType.TimerCreated, at, id), FireAt: fireAt.toISOString() }),
  timerFired: (at: Date, timerId: number, fireAt: string): HistoryEvent => ({ ...base(EventType.TimerFired, at), TimerId: timerId, FireAt: fireAt }),
  subOrchestrationCreated: (at: Date, id: number, name: string, instanceId: string, input?: string): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceCreated, at, id),
    Name: name,
    InstanceId: instanceId,
    Input: input,
  }),
  subOrchestrationCompleted: (at: Date, taskScheduledId: number, result: string): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceCompleted, at),
    TaskScheduledId: taskScheduledId,
    Result: result,
  }),
  subOrchestrationFailed: (at: Date, taskScheduledId: number, reason: string, details: string): HistoryEvent => ({
    ...base(EventType.SubOrchestrationInstanceFailed, at),
    TaskScheduledId: taskScheduledId,
    Reason: reason,
    Details: details,
  }),
  eventRaised: (at: Date, name: string, input?: string): HistoryEvent => ({ ...base(EventType.EventRaised, at), Name: name, Input: input }),
};

/** JSON text as the task hub stores payloads; `undefined` stays absent. */
export function toJsonText(value: unknown): string | undefined {
  return value === undefined ? undefined : JSON.stringify(value);
}

export function fromJsonText(text: string | undefined): unknown {
  if (text === undefined || text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
