import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DurableHost, EventType, installFunctionsCore, InvalidInstanceIdError, type HistoryEvent } from '../src/local/durable-host';

/** Instance ids: the ones the extension refuses, and the ones DurableTask.Core makes up. */

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

function ofType(history: HistoryEvent[], type: number): HistoryEvent[] {
  return history.filter((e) => e.EventType === type);
}

// azure-functions-durable-extension src/WebJobs.Extensions.DurableTask/ContextImplementations/
// DurableClient.cs, StartNewAsync: a leading @ (entity ids), then / \ ? # or char.IsControl,
// then more than MaxInstanceIdLength = 256 characters. Two of the checks swap ArgumentException's
// arguments, so .NET shows "instanceId (Parameter '…')".
describe('instance ids the extension refuses', () => {
  const leadingAt = "instanceId (Parameter 'Orchestration instance ids must not start with @.')";
  const badCharacter = "instanceId (Parameter 'Orchestration instance ids must not contain /, \\, #, ?, or control characters.')";
  const tooLong = 'Instance ID lengths must not exceed 256 characters.';

  it.each([
    ['@entity', leadingAt],
    ['a/b', badCharacter],
    ['a\\b', badCharacter],
    ['a?b', badCharacter],
    ['a#b', badCharacter],
    ['tab\there', badCharacter],
    ['nul\u0000', badCharacter],
    ['c1-control\u0085', badCharacter],
    ['x'.repeat(257), tooLong],
  ])('when startNew is given %j, then it is refused with the extension’s message and nothing is created', async (instanceId, message) => {
    const host = newHost();
    const refusal = host.startNew('toySequence', { instanceId, input: ['never'] });
    await expect(refusal).rejects.toBeInstanceOf(InvalidInstanceIdError);
    await expect(refusal).rejects.toThrow(message);
    expect(host.listInstances()).toEqual([]);
  });

  it('when an id is 256 characters with a colon, a space and non-ASCII letters, then it starts', async () => {
    const host = newHost();
    const instanceId = `rotate: zoë ${'y'.repeat(244)}`;
    expect(instanceId).toHaveLength(256);
    await host.startNew('toySequence', { instanceId, input: ['fine'] });
    expect((await host.waitForCompletion(instanceId)).output).toEqual(['hello fine']);
  });

  it('when the real DurableClient starts an id with a leading @ over HTTP, then the extension API answers 400 naming the rule', async () => {
    const host = newHost();
    const origin = await host.listen();
    // HttpApiHandler.cs turns an ArgumentException into 400 "One or more of the arguments submitted is incorrect".
    const refused = await fetch(`${origin}/api/toys/admin/start-again/@sneaky`, { method: 'POST' });
    const { error } = (await refused.json()) as { error: string };
    expect(error).toContain('unexpected status code: 400');
    expect(error).toContain('One or more of the arguments submitted is incorrect');
    expect(error).toContain('must not start with @');
    expect(host.listInstances()).toEqual([]);
  });
});

// DurableTask.Core src/DurableTask.Core/TaskOrchestrationContext.cs, CreateSubOrchestrationInstanceCore:
// without an id, the child is named OrchestrationInstance.ExecutionId + ":" + its sequence number.
describe('automatic sub-orchestration ids', () => {
  it('when a parent calls a child without an id, then the child is named after the parent’s execution id and the task’s sequence number', async () => {
    const host = newHost();
    const id = await host.startNew('toyParent', { instanceId: 'named-parent', input: 4 });
    await host.waitForCompletion(id);
    const history = host.history(id);
    const executionId = ofType(history, EventType.ExecutionStarted)[0]!.OrchestrationInstance!.ExecutionId;
    const created = ofType(history, EventType.SubOrchestrationInstanceCreated)[0]!;
    expect(created.InstanceId).toBe(`${executionId}:${created.EventId}`);
    expect(await host.getStatus(created.InstanceId!)).toMatchObject({ name: 'toyChild', output: 8 });
  });

  it('when the parent continues as new, then each generation’s child gets a new id and none is overwritten', async () => {
    const host = newHost();
    const id = await host.startNew('toyChildPerGeneration', { instanceId: 'generations', input: 1 });
    expect((await host.waitForCompletion(id)).output).toBe('generation 3');
    const children = host.listInstances().filter((s) => s.name === 'toyChild');
    expect(children.map((c) => c.output).sort()).toEqual([2, 4, 6]);
    expect(new Set(children.map((c) => c.instanceId)).size).toBe(3);
    for (const child of children) expect(child.instanceId).toMatch(/^[0-9a-f]{32}:0$/);
  });
});

// azure-functions-durable-extension src/WebJobs.Extensions.DurableTask/ContextImplementations/
// DurableOrchestrationContext.cs, CallDurableTaskFunctionAsync: an async method, so its refusal
// of a child id only faults the task, and Listener/OutOfProcOrchestrationShim.cs swallows it.
describe('explicit sub-orchestration ids the extension refuses', () => {
  it.each([
    ['its own id', 'selfish', 'selfish'],
    ['an id with a leading @', 'entity-like', '@child'],
  ])('when an orchestrator names a child with %s, then nothing is scheduled and it waits for ever, as on Azure', async (_what, instanceId, childId) => {
    const host = newHost();
    await host.startNew('toyNamesChild', { instanceId, input: childId });
    await host.whenIdle();
    expect((await host.getStatus(instanceId)).runtimeStatus).toBe('Running');
    expect(ofType(host.history(instanceId), EventType.SubOrchestrationInstanceCreated)).toEqual([]);
    expect(host.listInstances().map((s) => s.instanceId)).toEqual([instanceId]);
  });

  it('when a child names a grandchild after its parent, then the child waits for ever and so does the parent', async () => {
    const host = newHost();
    await host.startNew('toyParentOfNamer', { instanceId: 'elder' });
    await host.whenIdle();
    expect(host.listInstances().map((s) => [s.instanceId, s.runtimeStatus])).toEqual([
      ['elder', 'Running'],
      ['elder-namer', 'Running'],
    ]);
  });

  it('when a child id breaks none of the rules, then the child runs', async () => {
    const host = newHost();
    await host.startNew('toyNamesChild', { instanceId: 'namer', input: 'Namer-child' });
    expect((await host.waitForCompletion('namer')).output).toBe('child answered');
  });
});
