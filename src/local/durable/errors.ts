/** The simulated process died (an activity threw an error the `isCrash` option recognised). */
export class HostCrashedError extends Error {
  constructor(readonly crashCause: unknown) {
    super(`The local durable host crashed: ${crashCause instanceof Error ? crashCause.message : String(crashCause)}`);
    this.name = 'HostCrashedError';
  }
}

/** startNew on an instance that is Pending or Running (overridable states: non-running only). */
export class InstanceExistsError extends Error {
  constructor(readonly instanceId: string, readonly runtimeStatus: string) {
    super(`An Orchestration instance with the status ${runtimeStatus} already exists.`);
    this.name = 'InstanceExistsError';
  }
}

export class UnknownOrchestratorError extends Error {
  constructor(readonly functionName: string) {
    super(`The function '${functionName}' doesn't exist, is disabled, or is not an orchestrator function.`);
    this.name = 'UnknownOrchestratorError';
  }
}

/** Same wording as durable-functions' DurableClient.getStatus on a 404. */
export class InstanceNotFoundError extends Error {
  constructor(readonly instanceId: string) {
    super(
      'DurableClient error: Durable Functions extension replied with HTTP 404 response. ' +
        `This usually means we could not find any data associated with the instanceId provided: ${instanceId}.`,
    );
    this.name = 'InstanceNotFoundError';
  }
}

/**
 * startNew with an instance id the extension refuses (DurableClient.StartNewAsync in
 * azure-functions-durable-extension src/WebJobs.Extensions.DurableTask/ContextImplementations/
 * DurableClient.cs). Two of its checks pass their text as ArgumentException's parameter name,
 * so .NET reports it as "instanceId (Parameter '…')"; the message is kept as .NET shows it.
 */
export class InvalidInstanceIdError extends Error {
  constructor(readonly instanceId: string, message: string) {
    super(message);
    this.name = 'InvalidInstanceIdError';
  }
}

const MAX_INSTANCE_ID_LENGTH = 256;

/** The extension's checks, in its order: a leading @, then / \ ? # or a control character (char.IsControl), then the length. */
export function checkInstanceId(instanceId: string): void {
  if (instanceId.startsWith('@')) {
    throw new InvalidInstanceIdError(instanceId, "instanceId (Parameter 'Orchestration instance ids must not start with @.')");
  }
  if (/[/\\?#\u0000-\u001f\u007f-\u009f]/.test(instanceId)) {
    throw new InvalidInstanceIdError(instanceId, "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, or control characters.')");
  }
  if (instanceId.length > MAX_INSTANCE_ID_LENGTH) {
    throw new InvalidInstanceIdError(instanceId, `Instance ID lengths must not exceed ${MAX_INSTANCE_ID_LENGTH} characters.`);
  }
}
