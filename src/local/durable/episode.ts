import { events, toJsonText, type HistoryEvent } from './history';
import type { OrchestratorAnswer } from './invoke';
import { ActionType, replayActions, type ReplayOptions, type ScheduledWork } from './replay';

/** What one orchestrator episode commits: appended history, new status, new work. */
export interface EpisodeDecision {
  appended: HistoryEvent[];
  status: 'Running' | 'Completed' | 'Failed';
  output?: string;
  failureDetails?: string;
  customStatus?: string;
  newWork: ScheduledWork[];
  /** Timers the orchestrator cancelled: they need not fire (the real hub fires them to no effect). */
  canceledTimers?: number[];
  continueAsNewInput?: { text: string | undefined };
}

export interface EpisodeInput {
  name: string;
  /** OrchestratorStarted followed by the messages delivered in this episode. */
  newEvents: HistoryEvent[];
  /** Everything the orchestrator was given: past history then `newEvents`. */
  history: HistoryEvent[];
  answer: OrchestratorAnswer;
  now: Date;
  replay: ReplayOptions;
}

export function decideEpisode(input: EpisodeInput): EpisodeDecision {
  const { answer, name } = input;
  const customStatus = toJsonText(answer.state?.customStatus);
  const tooLarge = customStatusTooLarge(customStatus);
  if (tooLarge) return failed(input, `Orchestrator function '${name}' failed: ${tooLarge}`, undefined);
  if (!answer.state) return failed(input, `Orchestrator function '${name}' failed: ${answer.thrown}`, customStatus);
  const actions = answer.state.actions.flat();
  const replay = replayActions(input.history, actions, input.replay);
  if (!replay.ok) return failed(input, `Orchestrator function '${name}' failed: ${replay.failure.name}: ${replay.failure.message}`, customStatus);
  if (answer.thrown !== undefined) return failed(input, `Orchestrator function '${name}' failed: ${answer.thrown}`, customStatus);
  if (!answer.state.isDone) return { ...running(input, replay.newWork, customStatus), canceledTimers: replay.canceledTimers };
  const continueAsNew = actions.find((a) => a.actionType === ActionType.ContinueAsNew);
  if (continueAsNew) {
    const text = actionInputText(continueAsNew.input);
    return {
      appended: [...input.newEvents, events.continueAsNew(input.now, text), events.orchestratorCompleted(input.now)],
      status: 'Running',
      customStatus,
      newWork: [],
      continueAsNewInput: { text },
    };
  }
  const output = toJsonText(answer.state.output);
  return {
    appended: [...input.newEvents, events.executionCompleted(input.now, 'Completed', output), events.orchestratorCompleted(input.now)],
    status: 'Completed',
    output,
    customStatus,
    newWork: [],
  };
}

export function failedEpisode(input: Pick<EpisodeInput, 'newEvents' | 'now'>, message: string): EpisodeDecision {
  return failed(input, message, undefined);
}

function failed(input: Pick<EpisodeInput, 'newEvents' | 'now'>, message: string, customStatus: string | undefined): EpisodeDecision {
  return {
    appended: [...input.newEvents, events.executionCompleted(input.now, 'Failed', message), events.orchestratorCompleted(input.now)],
    status: 'Failed',
    output: JSON.stringify(message),
    failureDetails: message,
    customStatus,
    newWork: [],
  };
}

function running(input: EpisodeInput, newWork: ScheduledWork[], customStatus: string | undefined): EpisodeDecision {
  const scheduled = newWork.map((work) => scheduledEvent(work, input.now));
  return { appended: [...input.newEvents, ...scheduled, events.orchestratorCompleted(input.now)], status: 'Running', customStatus, newWork };
}

function scheduledEvent(work: ScheduledWork, now: Date): HistoryEvent {
  switch (work.kind) {
    case 'activity':
      return events.taskScheduled(now, work.id, work.name, actionInputText(work.input));
    case 'timer':
      return events.timerCreated(now, work.id, work.fireAt);
    case 'subOrchestration':
      return events.subOrchestrationCreated(now, work.id, work.name, work.instanceId, toJsonText(work.input));
  }
}

const MAX_CUSTOM_STATUS_KB = 16;

/**
 * The extension applies the custom status before it replays the actions, through
 * MessagePayloadDataConverter.Serialize(value, 16) (azure-functions-durable-extension
 * src/WebJobs.Extensions.DurableTask/MessagePayloadDataConverter.cs, called from
 * DurableOrchestrationContext.SetCustomStatus): whole kilobytes of UTF-16, rounded down, over
 * 16 throw an ArgumentException that fails the orchestration and leaves the status unset.
 */
function customStatusTooLarge(json: string | undefined): string | undefined {
  if (json === undefined || json === 'null') return undefined;
  const kilobytes = Math.floor((json.length * 2) / 1024);
  if (kilobytes <= MAX_CUSTOM_STATUS_KB) return undefined;
  return `The UTF-16 size of the JSON-serialized payload must not exceed ${MAX_CUSTOM_STATUS_KB} KB. The current payload size is ${kilobytes.toLocaleString('en-US')} KB.`;
}

/** The library JSON-encodes string inputs of activities and continueAsNew itself; keep them as they are. */
export function actionInputText(input: unknown): string | undefined {
  return typeof input === 'string' ? input : toJsonText(input);
}
