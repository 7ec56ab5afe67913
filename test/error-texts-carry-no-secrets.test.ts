import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Credential } from '../src/config/schema';
import { RotationError } from '../src/errors';
import { vaultRequest } from '../src/local/emulators/key-vault';
import { secretNameFor } from '../src/local/environment';
import type { DurableHost } from '../src/local/durable-host';
import type { RotationStatus } from '../src/rotation/status';
import type { PostgresTarget, Readiness } from '../src/targets/postgres';
import { availableSpecs, contracts } from './support/contract-validator';
import { startHarness, type Harness, type RotationResult } from './support/harness';
import { expectNoSecrets } from './support/secrets';

const ROW_VALUE = 'row-value-that-only-the-table-holds-7d1c';

/** Every value ever written to the vault, pending secrets compensated and deleted since included. */
function everyWrittenValue(h: Harness): string[] {
  return h.env.vault.requests
    .filter((r) => r.method === 'PUT' && r.rawBody)
    .map((r) => (JSON.parse(r.rawBody) as { value?: string }).value)
    .filter((v): v is string => typeof v === 'string');
}

describe('error texts and logs carry no secret: adapters rebuild errors, and a last pass removes every held value', () => {
  let h: Harness;
  let host: DurableHost;
  const verifiers: string[] = [];
  const results: Record<string, RotationResult> = {};
  let garbledLive = '';

  beforeAll(async () => {
    h = await startHarness([
      { id: 'garbled-db', role: 'garbled_app' },
      { id: 'rowcast-db', role: 'rowcast_app', probeQuery: 'SELECT v::integer FROM probe_rows' },
      { id: 'echoing-db', role: 'echoing_app' },
      { id: 'outage-db', role: 'outage_app' },
    ]);
    const admin = await h.env.postgres.connect('appdb');
    try {
      await admin.query('CREATE TABLE probe_rows (v text)');
      await admin.query('INSERT INTO probe_rows VALUES ($1)', [ROW_VALUE]);
      await admin.query('GRANT SELECT ON probe_rows TO rowcast_app');
    } finally {
      await admin.end();
    }
    const current = h.deps.current;
    h.deps.current = { ...current, postgres: (c) => recording(c, current.postgres(c)) };
    host = h.newHost();

    // A 200 whose body the SDK cannot parse, quoting the live value.
    garbledLive = h.liveValue('garbled-db');
    h.env.vault.inject({ match: vaultRequest({ operation: 'getSecret', name: secretNameFor('garbled-db') }), status: 200, body: `{"value":"${garbledLive}","id":`, times: 50 });
    results.garbled = await h.rotate(host, 'garbled-db');
    // The garbled body breaks Key Vault's published contract on purpose; nothing else may. Key
    // Vault's description is checked only where shared/contracts/ holds it (test/contracts/README.md).
    const broken = contracts.take();
    if (availableSpecs(h.env.vault.contract).length > 0) expect(broken.length).toBeGreaterThan(0);
    expect(broken.every((v) => v.includes('[key-vault-secrets.json GetSecret]: response body is not valid JSON'))).toBe(true);
    results.rowcast = await h.rotate(host, 'rowcast-db');
    results.echoing = await h.rotate(host, 'echoing-db');
    h.env.vault.inject({ match: vaultRequest({ operation: 'setSecret', name: `${secretNameFor('outage-db')}-pending` }), status: 503, times: 100 });
    results.outage = await h.rotate(host, 'outage-db');
  }, 240_000);
  afterAll(async () => {
    await h?.stop();
  });

  /** Records every verifier set, and makes echoing-db's probe fail with the password in its text, as a careless adapter might. */
  function recording(c: Credential, target: PostgresTarget): PostgresTarget {
    return new Proxy(target, {
      get(t, property, receiver) {
        const member = Reflect.get(t, property, receiver);
        if (property === 'setPasswordVerifier') {
          return (stage: string, role: string, verifier: string, options?: { login?: boolean }) => {
            verifiers.push(verifier);
            return t.setPasswordVerifier(stage, role, verifier, options);
          };
        }
        if (property === 'setPasswordChecked') {
          return (stage: string, ask: { roles: readonly string[]; group?: string }, role: string, produce: (r: Readiness) => Promise<string>, options?: { login?: boolean }) =>
            t.setPasswordChecked(stage, ask, role, async (readiness) => {
              const verifier = await produce(readiness);
              verifiers.push(verifier);
              return verifier;
            }, options);
        }
        if (property === 'probe' && c.id === 'echoing-db') {
          return async (stage: string, role: string, password: string) => {
            throw new RotationError({ code: 'postgres-error', stage, message: `logging in as ${role} with ${password} (${encodeURIComponent(password)}) failed` });
          };
        }
        return typeof member === 'function' ? member.bind(t) : member;
      },
    });
  }

  function status(name: string): RotationStatus {
    return results[name].custom;
  }

  it('when Key Vault answers 200 with a body it cannot parse that quotes the live password, then the error says status and code only', () => {
    expect(status('garbled').outcome).toBe('failed');
    expect(status('garbled').error).toMatchObject({ code: 'key-vault-error', stage: 'begin' });
    expect(status('garbled').error!.message).toMatch(/^begin: reading secret garbled-db-password[^:]* failed: Key Vault 200: PARSE_ERROR$/);
    expectNoSecrets({ status: JSON.stringify(results.garbled.status) }, [garbledLive]);
  });

  it('when the probe fails on a row value, then the error keeps the SQLSTATE and drops the server text that quotes it', () => {
    expect(status('rowcast').error).toMatchObject({ code: 'postgres-error', stage: 'verify', message: 'verify: logging in as rowcast_app failed: PostgreSQL 22P02' });
    const everything = JSON.stringify(host.exportState()) + host.logs.map((l) => l.message).join('\n');
    expect(everything).not.toContain(ROW_VALUE);
  });

  it('when an adapter error quotes a value the invocation held, then the last pass replaces it in the status and the log, in every form', () => {
    expect(status('echoing').error).toMatchObject({ code: 'postgres-error', stage: 'verify', message: 'verify: logging in as echoing_app with [redacted] ([redacted]) failed' });
    expect(host.logs.some((l) => l.message.includes('logging in as echoing_app with [redacted]'))).toBe(true);
  });

  it('when retries run out, then the failure carries the cause\'s message only: no host prefix, serialized exception, stack or file path', () => {
    const error = status('outage').error!;
    expect(error).toMatchObject({ code: 'retries-exhausted', stage: 'stage' });
    expect(error.message).toMatch(/^stage: writing secret outage-db-password-pending failed: Key Vault 503/);
    const published = h.env.events.requests.map((r) => r.rawBody).join('\n');
    for (const text of [error.message, String(results.outage.status.output), JSON.stringify(status('outage')), published]) {
      expect(text).not.toMatch(/Activity function|\n\s+at |\.[jt]s:\d+|\/src\/|node_modules|"\$type"|StackTrace/);
    }
  });

  it('then no value ever held, compensated pending values and SCRAM verifiers included, is in any durable store, log, error or event', () => {
    const written = everyWrittenValue(h);
    const pendingWrites = h.env.vault.requests.filter((r) => r.method === 'PUT' && r.path.includes('-pending')).length;
    expect(pendingWrites).toBeGreaterThanOrEqual(2);
    expect(verifiers.length).toBeGreaterThanOrEqual(2);
    const verifierKeys = verifiers.flatMap((v) => v.split(/[$:]/).slice(3));
    const haystacks = {
      'durable store': JSON.stringify(host.exportState()),
      logs: host.logs.map((l) => l.message).join('\n'),
      errors: Object.values(results).map((r) => `${String(r.status.output)}\n${JSON.stringify(r.custom.error)}`).join('\n'),
      events: h.env.events.requests.map((r) => r.rawBody).join('\n'),
    };
    expectNoSecrets(haystacks, [...written, ...h.env.initialPasswords.values(), ...verifiers, ...verifierKeys.filter((k) => k.length >= 16)]);
  });
});
