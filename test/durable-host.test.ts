import { HttpRequest } from '@azure/functions';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DurableHost,
  EventType,
  HostCrashedError,
  InstanceExistsError,
  InstanceNotFoundError,
  installFunctionsCore,
  type DurableHostOptions,
  type FunctionRegistry,
  type HistoryEvent,
} from '../src/local/durable-host';

type ToyApp = typeof import('./fixtures/toy-app.js');

let registry: FunctionRegistry;
let toy: ToyApp;
const hosts: DurableHost[] = [];

beforeAll(async () => {
  // The core module must be in place before the app registers anything.
  registry = installFunctionsCore();
  toy = await import('./fixtures/toy-app.js');
});

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

function newHost(options: DurableHostOptions = {}): DurableHost {
  const host = new DurableHost(options);
  hosts.push(host);
  return host;
}

function ofType(history: HistoryEvent[], type: number): HistoryEvent[] {
  return history.filter((e) => e.EventType === type);
}

describe('registration through @azure/functions-core', () => {
  it('exposes every registered trigger with its route, methods, auth level and schedule', () => {
    const start = registry.trigger('toyStart');
    expect(start).toMatchObject({ type: 'httpTrigger', route: 'toys/{orchestrator}/start', methods: ['POST'], authLevel: 'function' });
    expect(registry.trigger('toyDaily')).toMatchObject({ type: 'timerTrigger', schedule: '0 0 3 * * *' });
    expect(registry.trigger('toyEvents').type).toBe('eventGridTrigger');
    expect(registry.trigger('toySequence').type).toBe('orchestrationTrigger');
    expect(registry.trigger('toySay').type).toBe('activityTrigger');
    const clientInputs = Object.values(registry.require('toyStart').metadata.bindings).filter((b) => b.type === 'durableClient');
    expect(clientInputs).toHaveLength(1);
  });
});

describe('invocation through the programming model, as the worker does', () => {
  it('when functions run, then appStart hooks run once and invocation hooks see every orchestrator and activity call', async () => {
    const host = newHost();
    await host.waitForCompletion(await host.startNew('toySequence', { input: ['hooked'] }));
    await host.waitForCompletion(await host.startNew('toyRetry', { input: { key: 'hooks', failures: 1, attempts: 2 } }));
    expect(toy.hookCalls.filter((c) => c === 'appStart')).toHaveLength(1);
    expect(toy.hookCalls.indexOf('appStart')).toBe(0);
    expect(toy.hookCalls).toEqual(expect.arrayContaining(['pre:toySequence', 'pre:toySay', 'pre:toyFlaky', 'error:toyFlaky']));
  });
});

describe('orchestrations replayed over the real durable-functions library', () => {
  it('when a sequence of activities runs, then each result feeds the output and each activity ran once', async () => {
    const host = newHost();
    const id = await host.startNew('toySequence', { input: ['ada', 'bob'] });
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual(['hello ada', 'hello bob']);
    expect(toy.runs.get('toySay:ada')).toBe(1);
    const history = host.history(id);
    expect(ofType(history, EventType.TaskScheduled).map((e) => e.Name)).toEqual(['toySay', 'toySay']);
    expect(ofType(history, EventType.TaskCompleted).map((e) => e.Result)).toEqual(['"hello ada"', '"hello bob"']);
    expect(history.at(-2)).toMatchObject({ EventType: EventType.ExecutionCompleted, OrchestrationStatus: 'Completed' });
  });

  it('when activities fan out, then they run concurrently and the orchestrator fans their results back in', async () => {
    const host = newHost();
    toy.concurrency.max = 0;
    const id = await host.startNew('toyFanOut', { input: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] });
    const status = await host.waitForCompletion(id);
    expect(status.output).toEqual({ results: [2, 4, 6, 8, 10, 12, 14, 16, 18, 20], sum: 110 });
    expect(toy.concurrency.max).toBe(10);
    const scheduled = ofType(host.history(id), EventType.TaskScheduled);
    expect(scheduled.map((e) => e.EventId)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('when an activity fails twice, then the retry policy’s third attempt completes the orchestration', async () => {
    const host = newHost();
    const id = await host.startNew('toyRetry', { input: { key: 'twice', failures: 2, attempts: 3 } });
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ attempt: 3 });
    const history = host.history(id);
    expect(ofType(history, EventType.TaskScheduled)).toHaveLength(3);
    expect(ofType(history, EventType.TaskFailed).map((e) => e.Reason)).toEqual([
      "Activity function 'toyFlaky' failed:  flaky failure 1 of 2",
      "Activity function 'toyFlaky' failed:  flaky failure 2 of 2",
    ]);
    expect(ofType(history, EventType.TimerFired)).toHaveLength(2);
  });

  it('when every attempt fails, then the orchestration fails after one more retry timer, with the activity error and stack recorded', async () => {
    const host = newHost();
    const id = await host.startNew('toyRetry', { input: { key: 'always', failures: 99, attempts: 3 } });
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toContain('flaky failure 3 of 99');
    const history = host.history(id);
    expect(ofType(history, EventType.TaskFailed)).toHaveLength(3);
    expect(ofType(history, EventType.TimerCreated)).toHaveLength(3);
    const details = JSON.parse(ofType(history, EventType.TaskFailed)[0]!.Details!) as { Message: string; InnerException: { Message: string } };
    expect(details.Message).toBe(' flaky failure 1 of 99');
    expect(details.InnerException.Message).toMatch(/^Result: Failure\nException: flaky failure 1 of 99\nStack: Error: flaky failure 1 of 99\n\s+at /);
    expect(toy.runs.get('toyFlaky:always')).toBe(3);
  });

  it('when an orchestrator waits on a 15-minute timer, then the virtual clock fires it at once and currentUtcDateTime moves on', async () => {
    const host = newHost({ clock: 'virtual' });
    const before = host.now();
    const realStart = Date.now();
    const id = await host.startNew('toyTimer', { input: 15 });
    const status = await host.waitForCompletion(id);
    expect(Date.now() - realStart).toBeLessThan(2_000);
    const output = status.output as { start: string; end: string };
    expect(Date.parse(output.end) - Date.parse(output.start)).toBeGreaterThanOrEqual(15 * 60_000);
    expect(host.now().getTime() - before.getTime()).toBeGreaterThanOrEqual(15 * 60_000);
    const created = ofType(host.history(id), EventType.TimerCreated)[0]!;
    expect(Date.parse(created.FireAt!)).toBe(Date.parse(output.start) + 15 * 60_000);
  });

  it('when a timer runs on the real clock, then it waits for wall time to pass', async () => {
    const host = newHost({ clock: 'real' });
    const id = await host.startNew('toyTimer', { input: 0.005 });
    const realStart = Date.now();
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(Date.now() - realStart).toBeGreaterThanOrEqual(250);
  });

  it('when an external event is raised, then the waiting orchestrator resumes with its payload and updates its custom status', async () => {
    const host = newHost();
    const id = await host.startNew('toyApproval', { instanceId: 'approval-1' });
    await host.whenIdle();
    expect(await host.getStatus(id)).toMatchObject({ runtimeStatus: 'Running', customStatus: { stage: 'waiting' } });
    await host.raiseEvent(id, 'approve', { approved: true });
    const status = await host.waitForCompletion(id);
    expect(status.output).toEqual({ approved: true });
    expect(status.customStatus).toEqual({ stage: 'approved' });
    expect(ofType(host.history(id), EventType.EventRaised)[0]).toMatchObject({ Name: 'approve', Input: '{"approved":true}' });
  });

  it('when an orchestrator calls a sub-orchestration, then the child runs as its own instance and returns its output', async () => {
    const host = newHost();
    const id = await host.startNew('toyParent', { instanceId: 'parent-1', input: 21 });
    const status = await host.waitForCompletion(id);
    expect(status.output).toEqual({ doubled: 42, parentOf: 'parent-1' });
    const created = ofType(host.history(id), EventType.SubOrchestrationInstanceCreated)[0]!;
    expect(created).toMatchObject({ Name: 'toyChild', EventId: 0 });
    const child = await host.getStatus(created.InstanceId!);
    expect(child).toMatchObject({ name: 'toyChild', runtimeStatus: 'Completed', input: 21, output: 42 });
    expect(ofType(host.history(id), EventType.SubOrchestrationInstanceCompleted)[0]!.Result).toBe('42');
  });

  it('when a sub-orchestration fails once under a retry policy, then a second child instance succeeds', async () => {
    const host = newHost();
    const id = await host.startNew('toyRetriesChild', { instanceId: 'retries-child', input: 'sub-flaky' });
    const status = await host.waitForCompletion(id);
    expect(status.output).toEqual({ attempt: 2 });
    const created = ofType(host.history(id), EventType.SubOrchestrationInstanceCreated);
    expect(created.map((e) => e.EventId)).toEqual([0, 2]);
    expect(new Set(created.map((e) => e.InstanceId)).size).toBe(2);
    expect((await host.getStatus(created[0]!.InstanceId!)).runtimeStatus).toBe('Failed');
  });

  it('when a deadline timer is cancelled, then the idle virtual clock does not jump to it while the instance waits on', async () => {
    const host = newHost();
    const before = host.now().getTime();
    const id = await host.startNew('toyCancelThenWait');
    await host.raiseEvent(id, 'first');
    await host.whenIdle();
    expect((await host.getStatus(id)).runtimeStatus).toBe('Running');
    expect(ofType(host.history(id), EventType.TimerCreated)).toHaveLength(1);
    await host.raiseEvent(id, 'second');
    const finishedAt = Date.parse((await host.waitForCompletion(id)).output as string);
    expect(finishedAt - before).toBeLessThan(60_000);
  });

  it('when the replayed actions differ from the recorded history, then the instance fails with a non-determinism error naming both tasks', async () => {
    const host = newHost();
    toy.fickle.calls = 0;
    const id = await host.startNew('toyFickle');
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Failed');
    expect(String(status.output)).toMatch(/NonDeterminism/);
    expect(String(status.output)).toContain("named 'toySay'");
    expect(String(status.output)).toContain("named 'toyDouble'");
  });

  it('when an instance is running, then startNew with the same id is refused; once it completes, it starts afresh', async () => {
    const host = newHost();
    await host.startNew('toyApproval', { instanceId: 'single' });
    await expect(host.startNew('toyApproval', { instanceId: 'single' })).rejects.toBeInstanceOf(InstanceExistsError);
    await host.raiseEvent('single', 'approve', 1);
    await host.waitForCompletion('single');
    await host.startNew('toySequence', { instanceId: 'single', input: ['again'] });
    const status = await host.waitForCompletion('single');
    expect(status).toMatchObject({ name: 'toySequence', output: ['hello again'] });
    expect(ofType(host.history('single'), EventType.ExecutionStarted)).toHaveLength(1);
  });

  it('when an instance is terminated or purged, then its status says so and unknown ids are refused like the client does', async () => {
    const host = newHost();
    const id = await host.startNew('toyApproval');
    await host.terminate(id, 'operator said stop');
    const status = await host.waitForCompletion(id);
    expect(status).toMatchObject({ runtimeStatus: 'Terminated', output: 'operator said stop' });
    expect(await host.purgeInstanceHistory(id)).toEqual({ instancesDeleted: 1 });
    await expect(host.getStatus(id)).rejects.toBeInstanceOf(InstanceNotFoundError);
    await expect(host.waitForCompletion(id)).rejects.toBeInstanceOf(InstanceNotFoundError);
    expect(host.listInstances().map((s) => s.instanceId)).not.toContain(id);
  });

  it('when activities and orchestrators log, then the host captures each line once, with its function and instance', async () => {
    const lines: string[] = [];
    const host = newHost({ logger: (entry) => lines.push(entry.message) });
    const id = await host.startNew('toySequence', { input: ['logged', 'twice'] });
    await host.waitForCompletion(id);
    expect(host.logs).toContainEqual(expect.objectContaining({ functionName: 'toySay', instanceId: id, level: 'information', message: 'saying hello to logged' }));
    expect(lines).toContain('saying hello to logged');
    // The orchestrator logs only when not replaying: once per step although it ran three episodes.
    const orchestratorLines = host.logs.filter((l) => l.functionName === 'toySequence').map((l) => l.message);
    expect(orchestratorLines).toEqual(['sequence got hello logged', 'sequence got hello twice']);
  });

  it('when a value passes through an orchestration, then findOccurrences locates it in the stored history and the logs', async () => {
    const host = newHost();
    const secret = 'pa"ss\\word-42';
    const id = await host.startNew('toySequence', { input: [secret] });
    await host.waitForCompletion(id);
    const locations = host.findOccurrences([secret, 'never-stored']).map((o) => `${o.value === secret ? 'secret' : 'other'} ${o.location}`);
    expect(locations).toEqual(
      expect.arrayContaining([
        `secret store.instances.${id}.input`,
        `secret store.instances.${id}.output`,
        expect.stringMatching(new RegExp(`^secret store\\.instances\\.${id}\\.history\\[\\d+\\]\\.Input$`)),
        expect.stringMatching(/^secret logs\[\d+\]\.message$/),
      ]),
    );
    expect(locations.filter((l) => l.startsWith('other'))).toEqual([]);
  });

  it('when an event wins a race against a deadline timer, then the timer is cancelled and the orchestration carries on', async () => {
    const host = newHost();
    const id = await host.startNew('toyDeadline');
    await host.raiseEvent(id, 'approve', 'yes');
    const status = await host.waitForCompletion(id);
    expect(status.output).toEqual({ approval: 'yes', after: 'hello after-deadline-race' });
    const history = host.history(id);
    expect(ofType(history, EventType.TimerCreated)).toHaveLength(1);
    expect(ofType(history, EventType.TimerFired)).toHaveLength(0);
    expect(ofType(history, EventType.TaskScheduled)[0]).toMatchObject({ EventId: 1, Name: 'toySay' });
  });

  it('when nobody answers before the deadline, then the virtual clock fires the timer and the race is lost', async () => {
    const host = newHost();
    const id = await host.startNew('toyDeadline');
    expect((await host.waitForCompletion(id)).output).toBe('timed out');
  });

  it('when retried activities run in parallel, then retry timers and attempts interleave without upsetting replay', async () => {
    const host = newHost();
    const id = await host.startNew('toyParallelRetry');
    const status = await host.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toEqual({ results: [{ attempt: 2 }, { attempt: 4 }], tail: 42 });
    const history = host.history(id);
    expect(ofType(history, EventType.TaskScheduled)).toHaveLength(2 + 4 + 1);
    expect(ofType(history, EventType.TimerCreated)).toHaveLength(1 + 3);
  });

  it('when an orchestrator continues as new, then each generation restarts with fresh history and the last one completes', async () => {
    const host = newHost();
    const id = await host.startNew('toyCounter', { input: 0 });
    const status = await host.waitForCompletion(id);
    expect(status).toMatchObject({ runtimeStatus: 'Completed', output: 'counted to 3', input: 3 });
    const history = host.history(id);
    expect(ofType(history, EventType.ExecutionStarted)).toEqual([expect.objectContaining({ Input: '3' })]);
  });

  it('when a sub-orchestration fails, then the parent can catch the failure', async () => {
    const host = newHost();
    const id = await host.startNew('toyCatchesChild', { instanceId: 'catcher' });
    const status = await host.waitForCompletion(id);
    expect(status.output).toEqual({ caught: expect.stringContaining("Orchestrator function 'toyFailingChild' failed") });
    expect((await host.getStatus('catcher-child')).runtimeStatus).toBe('Failed');
  });

  it('when an orchestrator schedules an unknown activity or an unsupported action, then it fails with a clear message', async () => {
    const host = newHost();
    const missing = await host.startNew('toyCallsMissing');
    expect(String((await host.waitForCompletion(missing)).output)).toContain("The function 'noSuchActivity' doesn't exist");
    const http = await host.startNew('toyCallsHttp');
    expect(String((await host.waitForCompletion(http)).output)).toMatch(/CallHttp.*does not support/);
  });
});

describe('crash and recovery', () => {
  const isCrash = (error: unknown): boolean => error instanceof toy.CrashSignal;

  it('when the process dies inside an activity, then a new host resumed from the exported store re-runs that activity and completes', async () => {
    const first = newHost({ isCrash });
    const id = await first.startNew('toyCrashFlow', { input: 'k1' });
    await expect(first.waitForCompletion(id)).rejects.toBeInstanceOf(HostCrashedError);
    const state = JSON.parse(JSON.stringify(first.exportState())) as ReturnType<DurableHost['exportState']>;
    const scheduled = ofType(state.instances[id]!.history, EventType.TaskScheduled).map((e) => e.Name);
    expect(scheduled).toEqual(['toySay', 'toyCrashy']);
    expect(ofType(state.instances[id]!.history, EventType.TaskCompleted)).toHaveLength(1);
    expect(state.activities.map((a) => a.name)).toEqual(['toyCrashy']);
    await expect(first.startNew('toySequence')).rejects.toBeInstanceOf(HostCrashedError);

    const second = newHost({ isCrash, state });
    second.resume();
    const status = await second.waitForCompletion(id);
    expect(status.output).toEqual(['hello before-k1', 'survived k1 on run 2', 'hello after-k1']);
    expect(toy.runs.get('toyCrashy:k1')).toBe(2);
    expect(toy.runs.get('toySay:before-k1')).toBe(1);
  });

  it('when the app wraps the crash signal in another error, then the crash is still recognised through the cause chain', async () => {
    const first = newHost({ isCrash });
    const id = await first.startNew('toyWrappedCrashFlow', { input: 'w1' });
    await expect(first.waitForCompletion(id)).rejects.toBeInstanceOf(HostCrashedError);
    expect(ofType(first.history(id), EventType.TaskFailed)).toEqual([]);
    const second = newHost({ isCrash, state: first.exportState() });
    second.resume();
    expect((await second.waitForCompletion(id)).output).toBe(2);
  });

  it('when the history is lost after a crash, then a fresh host starts the instance over and it converges', async () => {
    const first = newHost({ isCrash });
    const id = await first.startNew('toyCrashFlow', { input: 'k2' });
    await expect(first.waitForCompletion(id)).rejects.toBeInstanceOf(HostCrashedError);
    const fresh = newHost({ isCrash });
    await fresh.startNew('toyCrashFlow', { instanceId: id, input: 'k2' });
    const status = await fresh.waitForCompletion(id);
    expect(status.runtimeStatus).toBe('Completed');
    expect(toy.runs.get('toySay:before-k2')).toBe(2);
  });
});

describe('triggers with the real DurableClient over the extension HTTP API', () => {
  it('when an HTTP trigger starts an orchestration, then createCheckStatusResponse answers 202 with working management links', async () => {
    const host = newHost();
    const origin = await host.listen();
    const request = new HttpRequest({
      method: 'POST',
      url: `${origin}/api/toys/toySequence/start`,
      body: { string: JSON.stringify(['via-http']) },
      headers: { 'content-type': 'application/json' },
    });
    const response = await host.invokeHttp('toyStart', request);
    expect(response.status).toBe(202);
    const payload = (await response.json()) as { id: string; statusQueryGetUri: string; sendEventPostUri: string };
    expect(response.headers.get('location')).toBe(payload.statusQueryGetUri);
    expect(payload.statusQueryGetUri).toContain(`/runtime/webhooks/durabletask/instances/${payload.id}?`);
    await host.waitForCompletion(payload.id);
    const polled = await fetch(payload.statusQueryGetUri);
    expect(polled.status).toBe(200);
    expect(await polled.json()).toMatchObject({ name: 'toySequence', instanceId: payload.id, runtimeStatus: 'Completed', output: ['hello via-http'] });
    const withoutKey = await fetch(payload.statusQueryGetUri.replace(/code=[^&]+/, 'code=wrong'));
    expect(withoutKey.status).toBe(401);
  });

  it('when the local endpoint is called over HTTP, then the route parameters reach the trigger and getStatus reports unknown ids', async () => {
    const host = newHost();
    const origin = await host.listen();
    const started = await fetch(`${origin}/api/toys/toyFanOut/start`, { method: 'POST', body: '[5]' });
    expect(started.status).toBe(202);
    const { id } = (await started.json()) as { id: string };
    await host.waitForCompletion(id);
    const status = await fetch(`${origin}/api/toys/status/${id}`);
    expect(await status.json()).toEqual({ runtimeStatus: 'Completed', output: { results: [10], sum: 10 } });
    const unknown = await fetch(`${origin}/api/toys/status/nope`);
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: string }).error).toContain('HTTP 404');
  });

  it('when the real client raises an event, terminates, restarts and purges over HTTP, then the host honours each call', async () => {
    const host = newHost();
    const origin = await host.listen();
    const admin = (operation: string, id: string, body?: string): Promise<Response> =>
      fetch(`${origin}/api/toys/admin/${operation}/${id}`, { method: 'POST', ...(body === undefined ? {} : { body }) });
    const approved = await host.startNew('toyApproval');
    expect((await admin('raise', approved, '{"via":"client"}')).status).toBe(202);
    expect((await host.waitForCompletion(approved)).output).toEqual({ via: 'client' });

    const stopped = await host.startNew('toyApproval', { instanceId: 'to-stop' });
    const refused = await admin('start-again', stopped);
    expect(refused.status).toBe(409);
    expect(((await refused.json()) as { error: string }).error).toContain('status Running already exists');
    expect((await admin('terminate', stopped, 'enough')).status).toBe(202);
    expect(await host.waitForCompletion(stopped)).toMatchObject({ runtimeStatus: 'Terminated', output: 'enough' });
    expect(await (await admin('status', stopped)).json()).toMatchObject({ name: 'toyApproval', runtimeStatus: 'Terminated', output: 'enough' });

    expect(await (await admin('purge', stopped)).json()).toEqual({ instancesDeleted: 1 });
    expect(await (await admin('purge', stopped)).json()).toEqual({ instancesDeleted: 0 });
    expect((await admin('raise', stopped, '{}')).status).toBe(409);
  });

  it('when a timer trigger fires, then it starts its orchestration through the client with the timer payload', async () => {
    const host = newHost();
    const instanceId = await host.invokeTimer('toyDaily', { isPastDue: true });
    expect(instanceId).toBe('toy-daily');
    expect((await host.waitForCompletion('toy-daily')).output).toEqual(['hello late']);
  });

  it('when an Event Grid event arrives, then the trigger raises the external event the orchestration waits for', async () => {
    const host = newHost();
    const id = await host.startNew('toyApproval');
    await host.invokeEventGrid('toyEvents', {
      id: 'evt-1',
      subject: 'ops@example.test',
      eventType: 'Toy.Approved',
      eventTime: new Date().toISOString(),
      dataVersion: '1',
      data: { instanceId: id, approved: true },
    });
    expect((await host.waitForCompletion(id)).output).toEqual({ approved: true, by: 'ops@example.test' });
  });
});
