import {
  invokeRegistered,
  triggerOf,
  type FunctionRegistry,
  type LogCategory,
  type LogLevel,
  type RpcTypedData,
} from '../functions-core';
import { EventType, fromJsonText, type HistoryEvent } from './history';
import type { OrchestratorAction } from './replay';

export type LogSink = (level: LogLevel, category: LogCategory, message: string) => void;

/** The OrchestratorState the library returns (or embeds in its failure message). */
export interface OrchestratorState {
  isDone: boolean;
  actions: OrchestratorAction[][];
  output?: unknown;
  error?: string;
  customStatus?: unknown;
  schemaVersion?: number;
}

export type OrchestratorAnswer = { state: OrchestratorState; thrown?: undefined } | { state?: OrchestratorState; thrown: string };

export interface TimerLimits {
  maxShortTimerMs: number;
  longTimerIntervalMs: number;
}

const OUT_OF_PROC_DATA = '$OutOfProcData$:';
// Extension schema V3: the library then splits long timers the way the extension expects.
const UPPER_SCHEMA_VERSION = 1;
const UPPER_SCHEMA_VERSION_NEW = 2;

export async function invokeOrchestrator(
  registry: FunctionRegistry,
  name: string,
  instanceId: string,
  history: HistoryEvent[],
  limits: TimerLimits,
  onLog: LogSink,
): Promise<OrchestratorAnswer> {
  const started = history.find((e) => e.EventType === EventType.ExecutionStarted);
  const payload = {
    history,
    input: fromJsonText(started?.Input),
    instanceId,
    isReplaying: history.some((e) => e.IsPlayed),
    parentInstanceId: started?.ParentInstance?.OrchestrationInstance.InstanceId,
    upperSchemaVersion: UPPER_SCHEMA_VERSION,
    upperSchemaVersionNew: UPPER_SCHEMA_VERSION_NEW,
    maximumShortTimerDuration: toTimeSpan(limits.maxShortTimerMs),
    longRunningTimerIntervalDuration: toTimeSpan(limits.longTimerIntervalMs),
    defaultHttpAsyncRequestSleepTimeMillseconds: 30_000,
  };
  try {
    const fn = registry.require(name);
    const outcome = await invokeRegistered(registry, fn, {
      inputData: [{ name: triggerOf(fn).name, data: { string: JSON.stringify(payload) } }],
      onLog,
    });
    return { state: parseTypedJson(outcome.response.returnValue) as OrchestratorState };
  } catch (err) {
    return failureAnswer(err);
  }
}

/** The library throws with the state appended after `$OutOfProcData$:`, as the extension parses it. */
function failureAnswer(err: unknown): OrchestratorAnswer {
  const message = err instanceof Error ? err.message : String(err);
  const at = message.indexOf(OUT_OF_PROC_DATA);
  if (at < 0) return { thrown: message };
  try {
    const state = JSON.parse(message.slice(at + OUT_OF_PROC_DATA.length)) as OrchestratorState;
    return { state, thrown: state.error ?? message.slice(0, at).trim() };
  } catch {
    return { thrown: message };
  }
}

export async function invokeActivity(
  registry: FunctionRegistry,
  name: string,
  input: unknown,
  onLog: LogSink,
): Promise<string> {
  const fn = registry.require(name);
  const outcome = await invokeRegistered(registry, fn, {
    inputData: [{ name: triggerOf(fn).name, data: activityInputData(input) }],
    onLog,
  });
  return resultText(outcome.response.returnValue);
}

/** Strings reach the activity as string data (the library already JSON-encoded them), the rest as JSON. */
function activityInputData(input: unknown): RpcTypedData | undefined {
  if (input === undefined) return undefined;
  return typeof input === 'string' ? { string: input } : { json: JSON.stringify(input) };
}

/** TaskCompleted.Result: the activity's return value as JSON text. */
export function resultText(data: RpcTypedData | null | undefined): string {
  if (!data) return 'null';
  if (data.string !== undefined) return JSON.stringify(data.string);
  if (data.json !== undefined) return data.json;
  if (data.int !== undefined) return String(data.int);
  if (data.double !== undefined) return String(data.double);
  if (data.bytes !== undefined) return JSON.stringify(Buffer.from(data.bytes).toString('base64'));
  return 'null';
}

function parseTypedJson(data: RpcTypedData | null | undefined): unknown {
  if (data?.json !== undefined) return JSON.parse(data.json);
  if (data?.string !== undefined) return JSON.parse(data.string);
  throw new Error('The orchestrator returned no OrchestratorState.');
}

/**
 * TaskFailed Reason/Details as the extension records a JavaScript activity failure. The Node
 * worker reports `error.message` and `error.stack` (azure-functions-nodejs-worker
 * src/setupEventStream.ts, after ensureErrorType in src/errors.ts turns a thrown non-Error
 * into an Error); the host wraps them in an RpcException ("Result: Failure\nException: msg\n
 * Stack: ..."); the extension keeps the text between "\nException:" and "\nStack:" (" msg",
 * its leading space included) as the friendly message (azure-functions-durable-extension
 * src/WebJobs.Extensions.DurableTask/OutOfProcExceptionHelpers.cs) and fails the task with
 * "Activity function 'x' failed: " + that message (Listener/TaskActivityShim.cs), hence the
 * two spaces; Details serialises the exception with the RpcException inside.
 */
export function activityFailure(name: string, err: unknown): { reason: string; details: string } {
  const error = workerError(err);
  const stack = error.stack ?? null;
  const friendly = ` ${error.message}`;
  const details = {
    $type: 'System.Exception, System.Private.CoreLib',
    ClassName: 'System.Exception',
    Message: friendly,
    Data: null,
    InnerException: {
      $type: 'Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException, Microsoft.Azure.WebJobs.Script',
      ClassName: 'Microsoft.Azure.WebJobs.Script.Workers.Rpc.RpcException',
      Message: `Result: Failure\nException: ${error.message}\nStack: ${stack ?? ''}`,
      RemoteMessage: error.message,
      RemoteStackTrace: stack,
    },
  };
  return { reason: `Activity function '${name}' failed: ${friendly}`, details: JSON.stringify(details) };
}

/** The worker's ensureErrorType: an Error as it is; anything else thrown becomes one. */
function workerError(err: unknown): Error {
  if (err instanceof Error) return err;
  if (err === undefined || err === null) return new Error('Unknown error');
  if (typeof err === 'string') return new Error(err);
  return new Error(typeof err === 'object' ? JSON.stringify(err) : String(err));
}

/** .NET TimeSpan text ("d.hh:mm:ss"), which the library parses with moment. */
export function toTimeSpan(ms: number): string {
  const totalSeconds = Math.floor(ms / 1000);
  const days = Math.floor(totalSeconds / 86_400);
  const rest = totalSeconds % 86_400;
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${days}.${pad(Math.floor(rest / 3600))}:${pad(Math.floor((rest % 3600) / 60))}:${pad(rest % 60)}`;
}
