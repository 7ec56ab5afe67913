/**
 * The local Durable Functions host: runs the app's real registrations (df.app.orchestration,
 * df.app.activity, app.http / app.timer / app.eventGrid with a durable client input) in one
 * process, for tests and the sandbox.
 *
 *   const registry = installFunctionsCore();      // before the app registers anything
 *   registerApp(localDeps);                        // or: await import('../index.js')
 *   const host = new DurableHost({ clock: 'virtual', isCrash: (e) => e instanceof CrashSignal });
 *   const response = await host.invokeHttp('rotationApi', new HttpRequest({ ... }));
 *   const status = await host.waitForCompletion('rotate-zep-db');
 *   expect(host.findOccurrences([password])).toEqual([]);
 *   await host.close();
 *
 * Crash and resume: an activity error matching `isCrash` (or with such an error in its
 * `cause` chain) stops the host as a dying process would; `new DurableHost({ state:
 * crashed.exportState() }).resume()` redelivers the interrupted work.
 */
export { DurableHost, type DurableHostOptions, type LogEntry } from './durable/host';
export { HostCrashedError, InstanceExistsError, InstanceNotFoundError, InvalidInstanceIdError, UnknownOrchestratorError } from './durable/errors';
export { EventType, eventTypeName, type HistoryEvent } from './durable/history';
export type { DurableState, OrchestrationStatus, RuntimeStatus } from './durable/store';
export type { Occurrence } from './durable/scan';
export { matchRoute } from './durable/triggers';
export { installFunctionsCore, FunctionRegistry, type RegisteredFunction, type TriggerBinding } from './functions-core';
