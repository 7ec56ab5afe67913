import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DurableHost, EventType, installFunctionsCore, InstanceExistsError } from '../src/local/durable-host';

/**
 * Racing starts of one instance id, as the Azure Storage backend handles them
 * (Azure/durabletask src/DurableTask.AzureStorage/AzureStorageOrchestrationService.cs,
 * CreateTaskOrchestrationAsync): read the row, refuse a Pending or Running instance, send the
 * ExecutionStarted message, then insert the row (or replace it under the ETag read). The loser's
 * 409/412 is ignored by SetNewExecutionAsync (Tracking/AzureTableTrackingStore.cs), so it is
 * answered as a success; its message no longer matches the row's execution id and is dropped
 * (OrchestrationSessionManager.cs, DedupeExecutionStartedMessagesAsync).
 */

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

describe('racing starts on the Azure Storage backend', () => {
  it('when two starts of one id read before either writes, then both are answered as started but only the first writer’s execution runs', async () => {
    const host = newHost();
    const answers = await Promise.all([
      host.startNew('toySequence', { instanceId: 'raced', input: ['first'] }),
      host.startNew('toySequence', { instanceId: 'raced', input: ['second'] }),
    ]);
    expect(answers).toEqual(['raced', 'raced']);
    const status = await host.waitForCompletion('raced');
    expect(status).toMatchObject({ input: ['first'], output: ['hello first'] });
    expect(host.history('raced').filter((e) => e.EventType === EventType.ExecutionStarted)).toHaveLength(1);
    expect(host.logs.map((l) => l.message)).toContainEqual(expect.stringContaining("Start of 'raced' answered as accepted, but another start wrote the instance row first"));
  });

  it('when a start reads the row after another start wrote it, then it is refused as before', async () => {
    const host = newHost();
    await host.startNew('toyApproval', { instanceId: 'sequential' });
    await expect(host.startNew('toyApproval', { instanceId: 'sequential' })).rejects.toBeInstanceOf(InstanceExistsError);
  });

  it('when two starts race to replace a completed instance, then only one new execution replaces it', async () => {
    const host = newHost();
    await host.startNew('toySequence', { instanceId: 'again', input: ['old'] });
    await host.waitForCompletion('again');
    await Promise.all([
      host.startNew('toySequence', { instanceId: 'again', input: ['new-1'] }),
      host.startNew('toySequence', { instanceId: 'again', input: ['new-2'] }),
    ]);
    expect(await host.waitForCompletion('again')).toMatchObject({ input: ['new-1'], output: ['hello new-1'] });
    expect(host.history('again').filter((e) => e.EventType === EventType.ExecutionStarted)).toHaveLength(1);
  });

  it('when the real DurableClient starts one id twice over HTTP and the starts interleave, then both calls get 202 and one instance runs', async () => {
    const host = newHost();
    const origin = await host.listen();
    host.interleaveStarts('over-http', 2);
    const start = (): Promise<Response> => fetch(`${origin}/api/toys/admin/start-again/over-http`, { method: 'POST' });
    const responses = await Promise.all([start(), start()]);
    expect(responses.map((r) => r.status)).toEqual([202, 202]);
    expect(host.listInstances().map((s) => s.instanceId)).toEqual(['over-http']);
    expect(host.history('over-http').filter((e) => e.EventType === EventType.ExecutionStarted)).toHaveLength(1);
  });
});
