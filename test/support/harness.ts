import { registerApp } from '../../src/app';
import { instanceIdFor, ORCHESTRATOR } from '../../src/orchestrations/contract';
import type { RotationReason, RotationStatus } from '../../src/rotation/status';
import type { RotationDeps } from '../../src/rotation/deps';
import { DurableHost, installFunctionsCore, type DurableState, type OrchestrationStatus } from '../../src/local/durable-host';
import type { PostgresMajor } from '../../src/local/embedded-postgres';
import { secretNameFor, startLocalEnvironment, type LocalCredentialSpec, type LocalEnvironment } from '../../src/local/environment';
import { expect } from 'vitest';
import { HostCrashedError } from '../../src/local/durable-host';
import { forgetWorkerMemory } from '../../src/targets/secret-memory';
import { CrashPlan, isSimulatedCrash } from './crash';

export interface Harness {
  env: LocalEnvironment;
  crash: CrashPlan;
  /** Replace to change what the registered activities see (e.g. a broken adapter). */
  deps: { current: RotationDeps };
  newHost(state?: DurableState): DurableHost;
  /** Every host this harness made, for scans over all durable stores and logs. */
  hosts(): readonly DurableHost[];
  start(host: DurableHost, credentialId: string, reason?: RotationReason): Promise<string>;
  rotate(host: DurableHost, credentialId: string): Promise<RotationResult>;
  /**
   * Kills the worker right after the named adapter call, then either replays the saved
   * history on a new host (asserting the crashed history is a prefix of the finished one)
   * or starts afresh with the history lost.
   */
  crashAndRecover(credentialId: string, crash: { method: string; call: number } | { vaultRequest: number }, mode: 'replay' | 'fresh'): Promise<RotationResult>;
  login(role: string, password: string): Promise<'accepted' | string>;
  liveValue(credentialId: string): string;
  pendingExists(credentialId: string): boolean;
  stop(): Promise<void>;
}

export interface RotationResult {
  instanceId: string;
  status: OrchestrationStatus;
  custom: RotationStatus;
}

let registered: { current: RotationDeps } | undefined;

/**
 * One per test file: real PostgreSQL, the Key Vault emulator, the app's real registrations
 * and durable hosts on demand. Adapters are wrapped by a CrashPlan so a test can kill the
 * worker right after any real side effect.
 */
export async function startHarness(specs: LocalCredentialSpec[], options: { postgresMajor?: PostgresMajor } = {}): Promise<Harness> {
  const registry = installFunctionsCore();
  const env = await startLocalEnvironment(specs, options);
  const crash = new CrashPlan();
  const base = env.deps;
  const holder = registered ?? { current: base };
  holder.current = { ...base, vault: (url) => crash.wrap(base.vault(url)), postgres: (c) => crash.wrap(base.postgres(c)) };
  if (!registered) {
    registerApp(() => holder.current);
    registered = holder;
  }
  // A 401 is the SDK's token-less first request meeting the challenge: nothing happened yet.
  env.vault.onRequest((event) => {
    if (event.status !== 401 && crash.vaultRequestHandled()) env.vault.inject({ drop: true, times: Number.MAX_SAFE_INTEGER });
  });
  const hosts: DurableHost[] = [];
  const harness: Harness = {
    env,
    crash,
    deps: holder,
    newHost(state) {
      const host = new DurableHost({ registry, clock: 'virtual', isCrash: isSimulatedCrash, state });
      env.useClock(() => host.now().getTime());
      hosts.push(host);
      return host;
    },
    hosts: () => hosts,
    async start(host, credentialId, reason = 'manual') {
      return host.startNew(ORCHESTRATOR, { instanceId: instanceIdFor(credentialId), input: { credentialId, reason } });
    },
    async rotate(host, credentialId) {
      const instanceId = await harness.start(host, credentialId);
      const status = await host.waitForCompletion(instanceId, { timeoutMs: 60_000 });
      return { instanceId, status, custom: status.customStatus as RotationStatus };
    },
    async crashAndRecover(credentialId, crash, mode) {
      const first = harness.newHost();
      if ('vaultRequest' in crash) harness.crash.armVaultRequest(crash.vaultRequest);
      else harness.crash.arm(crash.method, crash.call);
      const instanceId = await harness.start(first, credentialId);
      await expect(first.waitForCompletion(instanceId, { timeoutMs: 30_000 })).rejects.toBeInstanceOf(HostCrashedError);
      expect(harness.crash.pending).toBe(false);
      harness.crash.disarm();
      env.vault.clearFaults();
      // The worker died: what it remembered of Key Vault is gone with it.
      forgetWorkerMemory();
      if (mode === 'fresh') return harness.rotate(harness.newHost(), credentialId);
      const second = harness.newHost(first.exportState());
      second.resume();
      const status = await second.waitForCompletion(instanceId, { timeoutMs: 30_000 });
      const before = first.history(instanceId).map((e) => [e.EventType, e.EventId, e.Name]);
      expect(second.history(instanceId).slice(0, before.length).map((e) => [e.EventType, e.EventId, e.Name])).toEqual(before);
      return { instanceId, status, custom: status.customStatus as RotationStatus };
    },
    login: (role, password) => env.login(role, password),
    liveValue(credentialId) {
      const value = env.vault.currentValue(secretNameFor(credentialId));
      if (value === undefined) throw new Error(`no live secret for ${credentialId}`);
      return value;
    },
    pendingExists(credentialId) {
      const name = `${secretNameFor(credentialId)}-pending`;
      return env.vault.versions(name).length > 0 && !env.vault.isDeleted(name);
    },
    async stop() {
      for (const host of hosts) await host.close();
      await env.stop();
    },
  };
  return harness;
}

export async function storedVerifier(env: LocalEnvironment, role: string): Promise<string | null> {
  const admin = await env.postgres.connect();
  try {
    const result = await admin.query<{ rolpassword: string | null }>('SELECT rolpassword FROM pg_authid WHERE rolname = $1', [role]);
    return result.rows[0]?.rolpassword ?? null;
  } finally {
    await admin.end();
  }
}
