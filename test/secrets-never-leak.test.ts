import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { secretNameFor } from '../src/local/environment';
import type { DurableHost } from '../src/local/durable-host';
import { startHarness, type Harness } from './support/harness';
import { expectNoSecrets } from './support/secrets';

describe('invariant 3: no secret value in history, status, logs, errors or the PostgreSQL log', () => {
  let h: Harness;
  const hosts: DurableHost[] = [];
  const errors: string[] = [];

  beforeAll(async () => {
    h = await startHarness([
      { id: 'ok-db', role: 'ok_app' },
      { id: 'failing-db', role: 'failing_app', probeQuery: 'SELECT no_such_column FROM pg_class' },
      { id: 'retried-db', role: 'retried_app' },
      { id: 'crashed-db', role: 'crashed_app' },
      { id: 'forbidden-db', role: 'forbidden_app' },
    ]);
    const host = h.newHost();
    hosts.push(host);
    await h.rotate(host, 'ok-db');
    await h.rotate(host, 'ok-db');
    errors.push(String((await h.rotate(host, 'failing-db')).status.output));
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: `${secretNameFor('retried-db')}-pending` }), status: 503, times: 5 });
    await h.rotate(host, 'retried-db');

    const doomed = h.newHost();
    h.crash.arm('setPasswordChecked');
    const id = await h.start(doomed, 'crashed-db');
    await doomed.waitForCompletion(id, { timeoutMs: 30_000 }).catch((e: Error) => errors.push(e.message, e.stack ?? ''));
    const revived = h.newHost(doomed.exportState());
    hosts.push(doomed, revived);
    revived.resume();
    await revived.waitForCompletion(id, { timeoutMs: 30_000 });

    h.env.vault.inject({ match: vaultRequest({ operation: 'getSecret', name: secretNameFor('forbidden-db') }), status: 403, times: 10 });
    errors.push(String((await h.rotate(host, 'forbidden-db')).status.output));
  });
  afterAll(() => h?.stop());

  function everySecretValue(): string[] {
    const values = h.env.vault.secretNames().flatMap((name) => h.env.vault.versions(name).map((v) => v.value));
    return [...values, ...h.env.initialPasswords.values()];
  }

  it('when rotations succeed, fail, retry and crash, then the scanned material really held those values on the wire (the scan can see them)', () => {
    const values = everySecretValue();
    expect(values.length).toBeGreaterThanOrEqual(12);
    const wire = h.env.vault.requests.map((r) => r.rawBody).join('\n');
    expect(wire).toContain(h.liveValue('ok-db'));
  });

  it('then no value appears in any durable store: orchestration inputs, outputs, custom status, activity inputs and results, failure details', () => {
    expect(hosts.every((host) => host.listInstances().length > 0)).toBe(true);
    const stores = Object.fromEntries(hosts.map((host, i) => [`durable store ${i}`, JSON.stringify(host.exportState())]));
    expectNoSecrets(stores, everySecretValue());
    for (const host of hosts) expect(host.findOccurrences(everySecretValue())).toEqual([]);
  });

  it('then no value appears in any function log line or error message', () => {
    const logs = hosts.flatMap((host) => host.logs.map((l) => l.message));
    expect(logs.length).toBeGreaterThan(0);
    expect(errors.filter(Boolean).length).toBeGreaterThanOrEqual(3);
    expectNoSecrets({ logs: logs.join('\n'), errors: errors.join('\n') }, everySecretValue());
  });

  it('then the PostgreSQL statement log (log_statement = all) shows the password function called and never a password', () => {
    const serverLog = h.env.postgres.serverLog.join('\n');
    expect(serverLog).toContain('SELECT credential_rotation.set_password($1, $2)');
    expectNoSecrets({ 'PostgreSQL server log': serverLog }, everySecretValue());
  });
});
