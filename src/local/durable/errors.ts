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
