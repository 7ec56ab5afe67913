import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DurableHost, EventType, installFunctionsCore } from '../src/local/durable-host';

/** What the host stores from an orchestration: activity failure texts and the custom status. */

const hosts: DurableHost[] = [];

beforeAll(async () => {
  installFunctionsCore();
  await import('./fixtures/toy-app.js');
});

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

function newHost(): DurableHost {
  const host = new DurableHost();
  hosts.push(host);
  return host;
}

// The Node worker reports error.message (azure-functions-nodejs-worker src/setupEventStream.ts,
// non-Errors through ensureErrorType in src/errors.ts); the host's RpcException reads
// "Result: Failure\nException: <message>\nStack: …"; the extension keeps what lies between
// "\nException:" and "\nStack:" (OutOfProcExceptionHelpers.cs) and TaskActivityShim.cs fails the
// task with "Activity function '<name>' failed: " + that text: two spaces, no "Error: " prefix.
describe('activity failure text as Azure records it', () => {
  it.each([
    ['an Error subclass', { kind: 'error', text: 'bad input' }, "Activity function 'toyThrows' failed:  bad input"],
    ['a bare string', { kind: 'string', text: 'just words' }, "Activity function 'toyThrows' failed:  just words"],
    ['a plain object', { kind: 'object', text: 'odd' }, 'Activity function \'toyThrows\' failed:  {"text":"odd"}'],
  ])('when an activity throws %s, then TaskFailed and the orchestrator see the message without its error name', async (_what, input, reason) => {
    const host = newHost();
    const id = await host.startNew('toyCatchesActivity', { input });
    expect((await host.waitForCompletion(id)).output).toEqual({ caught: reason });
    const failed = host.history(id).find((e) => e.EventType === EventType.TaskFailed)!;
    expect(failed.Reason).toBe(reason);
    const details = JSON.parse(failed.Details!) as { Message: string; InnerException: { Message: string; RemoteMessage: string } };
    expect(details.Message).toBe(reason.slice(reason.indexOf(':') + 2));
    expect(details.InnerException.Message.startsWith(`Result: Failure\nException: ${details.InnerException.RemoteMessage}\nStack: `)).toBe(true);
  });

  it('when retries run out, then the failed orchestration’s output carries the same text', async () => {
    const host = newHost();
    const id = await host.startNew('toyRetry', { input: { key: 'text-out', failures: 99, attempts: 2 } });
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Failed');
    // The library's error message is Reason + " \n " + Details (durable-js TaskOrchestrationExecutor.ts).
    expect(String(status.output).split(' \n ')[0]).toBe("Orchestrator function 'toyRetry' failed: Activity function 'toyFlaky' failed:  flaky failure 2 of 99");
  });
});

// azure-functions-durable-extension src/WebJobs.Extensions.DurableTask/MessagePayloadDataConverter.cs
// (Serialize(value, maxSizeInKB)) via DurableOrchestrationContext.SetCustomStatus: whole KB of
// UTF-16, rounded down, above 16 throw before the actions are replayed; TaskOrchestrationShim.cs
// fails the orchestration with "Orchestrator function '<name>' failed: " + that message.
describe('the 16 KB custom status limit', () => {
  // A JSON string of n characters is n + 2 UTF-16 units, 2n + 4 bytes: 17 KB begins at n = 8702.
  it('when the custom status is just under 17 KB of UTF-16 JSON, then it is stored', async () => {
    const host = newHost();
    const id = await host.startNew('toyCustomStatus', { input: 8_701 });
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.customStatus).toHaveLength(8_701);
  });

  it('when the custom status reaches 17 KB, then the orchestration fails with the extension’s message and the status stays unset', async () => {
    const host = newHost();
    const id = await host.startNew('toyCustomStatus', { input: 8_702 });
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(status.output).toBe(
      "Orchestrator function 'toyCustomStatus' failed: The UTF-16 size of the JSON-serialized payload must not exceed 16 KB. The current payload size is 17 KB.",
    );
    expect(status.customStatus).toBeNull();
    expect(host.history(id).filter((e) => e.EventType === EventType.TaskScheduled)).toEqual([]);
  });
});
