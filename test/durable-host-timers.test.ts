import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DurableHost, EventType, installFunctionsCore, type HistoryEvent } from '../src/local/durable-host';

/**
 * Durable timers as the task hub fires them on Azure: on wall time, whatever else is running,
 * and retry timers exactly where DurableTask.Core's RetryInterceptor writes them.
 */

type ToyApp = typeof import('./fixtures/toy-app.js');

let toy: ToyApp;
const hosts: DurableHost[] = [];

beforeAll(async () => {
  installFunctionsCore();
  toy = await import('./fixtures/toy-app.js');
});

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.close()));
});

function newHost(): DurableHost {
  const host = new DurableHost({ clock: 'virtual' });
  hosts.push(host);
  return host;
}

function ofType(history: HistoryEvent[], type: number): HistoryEvent[] {
  return history.filter((e) => e.EventType === type);
}

// On Azure a timer is a TimerFired message scheduled for its FireAt (DurableTask.Core
// src/DurableTask.Core/TaskOrchestrationDispatcher.cs, ProcessCreateTimerDecision): it is
// delivered when its time comes, not when some activity somewhere finishes.
describe('timers on the virtual clock, whatever activities are in flight', () => {
  it('when a deadline is shorter than a slow activity, then the deadline wins the race', async () => {
    const host = newHost();
    const id = await host.startNew('toyRaceSlow', { input: { activityMs: 3_000, deadlineMs: 300 } });
    const status = await host.waitForCompletion(id);
    expect(status.output).toBe('deadline');
    expect(toy.slow.inFlight).toBe(1);
    const history = host.history(id);
    expect(ofType(history, EventType.TimerFired)).toHaveLength(1);
    expect(ofType(history, EventType.TaskCompleted)).toHaveLength(0);
  });

  it('when a quick activity races a one-hour deadline, then the activity wins and the idle clock never jumps to the deadline', async () => {
    const host = newHost();
    const before = host.now().getTime();
    const id = await host.startNew('toyRaceSlow', { input: { activityMs: 20, deadlineMs: 3_600_000 } });
    const status = await host.waitForCompletion(id);
    expect(status.output).toBe('activity');
    expect(ofType(host.history(id), EventType.TimerFired)).toHaveLength(0);
    expect(host.now().getTime() - before).toBeLessThan(3_600_000);
  });

  it('when one instance waits on a slow activity, then another instance’s due timer still fires', async () => {
    const host = newHost();
    const busy = await host.startNew('toySlowOnly', { input: 2_000 });
    const waiting = await host.startNew('toyTimer', { input: 0.005 });
    expect((await host.waitForCompletion(waiting)).runtimeStatus).toBe('Completed');
    expect((await host.getStatus(busy)).runtimeStatus).toBe('Running');
    expect(ofType(host.history(busy), EventType.TaskCompleted)).toHaveLength(0);
    expect((await host.waitForCompletion(busy)).output).toBe('finished after 2000 ms');
  });
});

// DurableTask.Core src/DurableTask.Core/RetryInterceptor.cs (Invoke, ComputeNextDelay).
describe('retry timers as DurableTask.Core writes them', () => {
  it('when every attempt fails, then the timer after the last attempt is due at once and the failure surfaces without a backoff', async () => {
    const host = newHost();
    const id = await host.startNew('toyRetry', { input: { key: 'last-timer', failures: 99, attempts: 3 } });
    expect((await host.waitForCompletion(id)).runtimeStatus).toBe('Failed');
    const timers = ofType(host.history(id), EventType.TimerCreated);
    const delays = timers.map((t) => Date.parse(t.FireAt!) - Date.parse(t.Timestamp));
    // Two backoffs of firstRetryInterval (1 s, coefficient 1), then "Dummy timer for back-compat" at CurrentUtcDateTime.
    expect(delays).toEqual([1000, 1000, 0]);
  });

  it('when retryTimeout has passed by the last attempt, then the dummy timer is still written and the failure reaches the orchestrator', async () => {
    const host = newHost();
    const id = await host.startNew('toyRetryTimeout', { input: { key: 'timeout-last', attempts: 2, timeoutMs: 500 } });
    const status = await host.waitForCompletion(id, { timeoutMs: 10_000 });
    expect(status.runtimeStatus).toBe('Completed');
    expect(status.output).toMatchObject({ caught: "Activity function 'toyFlaky' failed:  flaky failure 2 of 99" });
    const history = host.history(id);
    expect(ofType(history, EventType.TaskFailed)).toHaveLength(2);
    const lastTimer = ofType(history, EventType.TimerCreated).at(-1)!;
    expect(Date.parse(lastTimer.FireAt!)).toBe(Date.parse(lastTimer.Timestamp));
  });

  it('when retryTimeout passes before the last attempt, then no timer is written and the instance waits for ever, as on Azure', async () => {
    // ComputeNextDelay returns zero and Invoke rethrows without a timer; the JavaScript library
    // waits for the timer it expects after every failure (azure-functions-durable-js issue #629).
    const host = newHost();
    const id = await host.startNew('toyRetryTimeout', { input: { key: 'timeout-early', attempts: 3, timeoutMs: 500 } });
    await host.whenIdle();
    expect((await host.getStatus(id)).runtimeStatus).toBe('Running');
    const history = host.history(id);
    expect(ofType(history, EventType.TaskFailed)).toHaveLength(2);
    expect(ofType(history, EventType.TimerCreated)).toHaveLength(1);
  });
});
