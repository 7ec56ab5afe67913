// A worker process for the real-kill soak (run with `node --import tsx`): it serves the app's
// real registrations against the parent's PostgreSQL and emulators, saves the durable store to
// disk after every change, as a task hub would, and resumes from that file when it exists.
// After its k-th adapter call it says so on stdout and stops, so the parent can SIGKILL it
// exactly there.
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { HttpRequest } from '@azure/functions';
import { registerApp } from '../../src/app';
import { composeDeps } from '../../src/composition';
import type { RotationConfig } from '../../src/config/schema';
import { DurableHost, installFunctionsCore, type DurableState } from '../../src/local/durable-host';
import { loopbackAzureOptions, loopbackFetch, StaticTokenCredential } from '../../src/local/loopback-clients';
import { instanceIdFor } from '../../src/orchestrations/contract';
import type { RotationDeps } from '../../src/rotation/deps';

/** What the parent hands over: where its services are and what to do. */
export interface ChildBed {
  config: RotationConfig;
  serviceToken: string;
  ca: string;
  events: { endpoint: string; key: string };
  credentialId: string;
  stateFile: string;
  /** Stop after this many adapter calls, or after the first call that changes a password (0: never). */
  killAfter: number | 'password-change';
}

const AsyncFunction = (async () => undefined).constructor;

function announcingCalls<T extends object>(target: T, adapter: string, onCall: (name: string, args: unknown[]) => Promise<void>): T {
  return new Proxy(target, {
    get: (obj, prop, receiver) => {
      const value = Reflect.get(obj, prop, receiver);
      if (typeof value !== 'function' || !(value instanceof AsyncFunction)) return value;
      return async (...args: unknown[]) => {
        const result = await (value as (...a: unknown[]) => Promise<unknown>).apply(obj, args);
        await onCall(`${adapter}.${String(prop)}`, args);
        return result;
      };
    },
  });
}

async function main(): Promise<void> {
  const bed = JSON.parse(readFileSync(process.argv[2], 'utf8')) as ChildBed;
  const registry = installFunctionsCore();
  const base = composeDeps({
    config: bed.config,
    credential: new StaticTokenCredential(bed.serviceToken),
    keyVaultOptions: { ...loopbackAzureOptions(bed.ca), disableChallengeResourceVerification: true },
    pollIntervalMs: 10,
    events: { endpoint: bed.events.endpoint, key: bed.events.key, clientOptions: loopbackAzureOptions(bed.ca) },
    github: { fetch: loopbackFetch(bed.ca), maxWaitMs: 5_000 },
    armClientOptions: loopbackAzureOptions(bed.ca),
  });
  let calls = 0;
  const started = Date.now();
  const onCall = async (name: string, args: unknown[]): Promise<void> => {
    calls++;
    process.stdout.write(`call ${calls} ${name} +${Date.now() - started} ms\n`);
    const changesPassword = name === 'postgres.setPasswordChecked' || args.some((a) => typeof a === 'string' && a.startsWith('SCRAM-SHA-256$'));
    if (calls !== bed.killAfter && !(bed.killAfter === 'password-change' && changesPassword)) return;
    process.stdout.write('kill me\n');
    // The parent kills this process now; nothing after this call may happen.
    await new Promise(() => undefined);
  };
  const deps: RotationDeps = {
    ...base,
    vault: (url) => announcingCalls(base.vault(url), 'key-vault', onCall),
    postgres: (c) => announcingCalls(base.postgres(c), 'postgres', onCall),
    github: () => announcingCalls(base.github(), 'github', onCall),
    containerApps: () => announcingCalls(base.containerApps(), 'container-apps', onCall),
    events: base.events && announcingCalls(base.events, 'event-grid', onCall),
  };
  registerApp(() => deps);
  process.stdout.write(`ready +${Date.now() - started} ms\n`);
  const saved = existsSync(bed.stateFile) ? (JSON.parse(readFileSync(bed.stateFile, 'utf8')) as DurableState) : undefined;
  let clockSaid = 0;
  const persist = (state: DurableState) => {
    // The parent's Container Apps emulator keeps time with this host's virtual clock.
    const clock = Date.parse(state.clockNow);
    if (Math.abs(clock - Date.now()) > 1000 && clock !== clockSaid) process.stdout.write(`clock ${(clockSaid = clock)}\n`);
    // Write then rename: a kill in the middle of a write leaves the previous store whole.
    writeFileSync(`${bed.stateFile}.tmp`, JSON.stringify(state));
    renameSync(`${bed.stateFile}.tmp`, bed.stateFile);
  };
  const host = new DurableHost({ registry, clock: 'virtual', state: saved, persist });
  const instanceId = instanceIdFor(bed.credentialId);
  if (saved) {
    process.stdout.write(`resumed ${Object.keys(saved.instances).length} instance(s) from disk\n`);
    host.resume();
  } else {
    const response = await host.invokeHttp('rotationApiRotate', new HttpRequest({ method: 'POST', url: `http://localhost/api/credentials/${bed.credentialId}/rotate` }));
    process.stdout.write(`started: ${response.status}\n`);
  }
  const status = await host.waitForCompletion(instanceId, { timeoutMs: 120_000 });
  process.stdout.write(`done ${JSON.stringify({ runtimeStatus: status.runtimeStatus, customStatus: status.customStatus })}\n`);
  await host.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
