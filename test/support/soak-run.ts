import { HttpRequest } from '@azure/functions';
import { ContainerAppsEmulator } from '../../src/local/emulators/container-apps';
import { secretNameFor } from '../../src/local/environment';
import { instanceIdFor } from '../../src/orchestrations/contract';
import { TAG } from '../../src/rotation/state';
import type { RotationStatus } from '../../src/rotation/status';
import { isSimulatedCrash } from './crash';
import { keyVaultEvent } from './events';
import { checkEndState, checkDegradedKeptOld } from './soak-invariants';
import type { Fault, Schedule, Step } from './soak-schedule';
import type { SoakWorld } from './soak-world';

const HOUR = 3_600_000;
/** Long enough for any pending secret to count as abandoned (pendingMaxAgeHours defaults to 6). */
const JANITOR_LATER_HOURS = 7;
const QUIESCE_ROUNDS = 8;
const SETTLE_TIMEOUT_MS = 120_000;

/**
 * Runs one schedule from the common starting point, then takes the system to rest the way an
 * operator would (faults over, the janitor's daily runs, /propagate for a degraded rotation)
 * and returns every broken invariant, seen on the way or at rest.
 */
export async function runSchedule(world: SoakWorld, schedule: Schedule): Promise<string[]> {
  await world.reset();
  const run = new Run(world);
  for (const step of schedule) {
    await run.recoverIfDead();
    await run.perform(step);
    world.checkOneInstancePerCredential(`after ${step.do}`);
  }
  await run.quiesce();
  countOutcomes(world);
  return [...world.violations, ...(await checkEndState(world))];
}

class Run {
  private recoverBy: 'replay' | 'fresh' = 'replay';

  constructor(private readonly world: SoakWorld) {}

  async perform(step: Step): Promise<void> {
    const { world } = this;
    switch (step.do) {
      case 'start':
        return this.start(step.credential, step.via);
      case 'propagate':
        return this.trigger(() => world.host.invokeHttp('rotationApiPropagate', post(world.credential(step.credential).id, 'propagate')));
      case 'janitor':
        world.skewMs += step.hoursLater * HOUR;
        return this.trigger(() => world.host.invokeTimer('scheduledRotation'));
      case 'fault':
        return this.inject(step.fault);
      case 'crash':
        this.recoverBy = step.recover;
        return world.crash.arm(step.afterCalls);
      case 'clock':
        world.skewMs += step.hours * HOUR;
        return;
      case 'settle':
        return this.settle();
    }
  }

  private async start(index: number, via: Extract<Step, { do: 'start' }>['via']): Promise<void> {
    const { world } = this;
    const { id } = world.credential(index);
    const env = world.h.env;
    if (via === 'http') return this.trigger(() => world.host.invokeHttp('rotationApiRotate', post(id, 'rotate')));
    if (via === 'timer') {
      // Seventeen days on, a 30-day live version is inside the expiry margin: due.
      world.skewMs += 17 * 24 * HOUR;
      return this.trigger(() => world.host.invokeTimer('scheduledRotation'));
    }
    const versions = env.vault.versions(secretNameFor(id));
    const version = via === 'event-stale' ? (versions.at(-2)?.version ?? 'f'.repeat(32)) : versions.at(-1)?.version;
    const event = keyVaultEvent(env, { credentialId: id, version });
    if (via === 'event-duplicate') {
      // Event Grid delivers at least once: the same event twice, at the same time.
      await Promise.all([this.trigger(() => world.host.invokeEventGrid('keyVaultEvents', event)), this.trigger(() => world.host.invokeEventGrid('keyVaultEvents', structuredClone(event)))]);
      return;
    }
    return this.trigger(() => world.host.invokeEventGrid('keyVaultEvents', event));
  }

  /** Runs a trigger; its answer (or error) is kept for the secret scan, a crash inside it kills the worker. */
  private async trigger(invoke: () => Promise<unknown>): Promise<void> {
    if (this.world.crash.isDead || this.world.host.isCrashed) return;
    try {
      const answer = await invoke();
      this.world.answers.push(await answerText(answer));
    } catch (error) {
      if (isSimulatedCrash(error) || this.world.host.isCrashed) return;
      this.world.answers.push(String((error as Error).stack ?? error));
    }
  }

  private inject(fault: Fault): void {
    const env = this.world.h.env;
    const { times } = fault;
    switch (fault.service) {
      case 'key-vault': {
        // Only requests that carry a token: the SDK's token-less first request is answered by the challenge.
        const withToken = (req: { headers: Record<string, unknown> }) => req.headers.authorization !== undefined;
        if (fault.kind === 'slow') return env.vault.inject({ match: withToken, delayMs: 300, times });
        if (fault.kind === 'reset') return env.vault.inject({ match: withToken, drop: true, times });
        if (fault.kind === 'token-expired') {
          // An expired token meets the same challenge as a missing one, with the reason in error_description
          // (https://learn.microsoft.com/azure/key-vault/general/authentication-requests-and-responses).
          const challenge = `Bearer authorization="https://login.microsoftonline.com/${env.vault.tenantId}", resource="https://vault.azure.net", error="invalid_token", error_description="The access token expired"`;
          return env.vault.inject({ match: withToken, status: 401, headers: { 'www-authenticate': challenge }, body: { error: { code: 'Unauthorized', message: 'AKV10022: Invalid audience or expired token.' } }, times });
        }
        return env.vault.inject({ match: withToken, status: Number(fault.kind), retryAfterSeconds: fault.kind === '429' ? 1 : undefined, times });
      }
      case 'postgres':
        return this.world.proxy.inject({ kind: fault.kind, user: fault.admin ? env.config.credentials[0].postgres.admin.user : undefined, times });
      case 'github':
        if (fault.kind === 'rate-limit') return env.github.setRateLimit(this.world.githubToken(), { remaining: 0, resetInSeconds: 3600 });
        if (fault.kind === 'secondary-rate-limit') return env.github.secondaryRateLimit({ status: 403, retryAfterSeconds: 1, times });
        return env.github.inject({ status: Number(fault.kind), times });
      case 'arm':
        if (fault.kind === 'never-healthy') {
          for (const spec of this.world.specs) for (const a of spec.containerApps ?? []) env.containerApps.setRestartOutcome(a.app, `${a.app}--r1`, 'Unhealthy');
          return;
        }
        if (fault.kind === 'token-expired') {
          // ARM's answer to an expired bearer token (https://learn.microsoft.com/azure/azure-resource-manager/troubleshooting/common-deployment-errors, ExpiredAuthenticationToken).
          return env.containerApps.inject({ status: 401, body: { error: { code: 'ExpiredAuthenticationToken', message: 'The access token expiry UTC time is earlier than current UTC time.' } }, times });
        }
        return env.containerApps.inject({ status: Number(fault.kind), match: fault.kind === '409' ? ContainerAppsEmulator.isRestart() : undefined, times });
      case 'event-grid':
        return env.events.inject({ status: Number(fault.kind), times });
    }
  }

  /** Lets the host run until nothing but external events would move it, recovering from crashes on the way. */
  private async settle(): Promise<void> {
    for (;;) {
      await this.recoverIfDead();
      try {
        await this.world.host.whenIdle({ timeoutMs: SETTLE_TIMEOUT_MS });
      } catch (error) {
        if (this.world.host.isCrashed || this.world.crash.isDead) continue;
        throw error;
      }
      if (!this.world.crash.isDead && !this.world.host.isCrashed) return;
    }
  }

  /** A dead worker comes back: from the task hub's saved state (replay) or with the history lost (fresh). */
  async recoverIfDead(): Promise<void> {
    const { world } = this;
    if (!world.crash.isDead && !world.host.isCrashed) return;
    await world.crash.disarm();
    world.stats.crashes[this.recoverBy]++;
    const old = world.host;
    const state = old.exportState();
    await old.close();
    if (this.recoverBy === 'fresh') return void world.newHost();
    world.newHost(state).resume();
  }

  /**
   * The outage is over and the operator tidies up: apps healthy, GitHub's hour has passed,
   * then daily janitor runs and /propagate for what ended degraded, until nothing is left.
   */
  async quiesce(): Promise<void> {
    const { world } = this;
    const env = world.h.env;
    await this.settle();
    await world.crash.disarm();
    world.clearFaults();
    env.github.setRateLimit(world.githubToken(), { remaining: 5000, resetInSeconds: 3600 });
    for (const spec of world.specs) for (const a of spec.containerApps ?? []) env.containerApps.setRestartOutcome(a.app, `${a.app}--r1`, 'Healthy');
    for (let round = 0; round < QUIESCE_ROUNDS; round++) {
      await this.settle();
      const degraded = world.specs.filter((spec) => this.outcomeOf(spec.id) === 'degraded');
      for (const spec of degraded) {
        await checkDegradedKeptOld(world, spec, this.statusOf(spec.id)!);
        await this.trigger(() => world.host.invokeHttp('rotationApiPropagate', post(spec.id, 'propagate')));
      }
      if (degraded.length > 0) continue;
      if (!world.specs.some((spec) => this.unfinished(spec.id))) return;
      world.skewMs += JANITOR_LATER_HOURS * HOUR;
      await this.trigger(() => world.host.invokeTimer('scheduledRotation'));
    }
    await this.settle();
    const left = world.specs.filter((spec) => this.unfinished(spec.id) || this.outcomeOf(spec.id) === 'degraded').map((s) => s.id);
    if (left.length > 0) world.violations.push(`no rest after ${QUIESCE_ROUNDS} janitor and /propagate rounds: ${left.join(', ')} still unfinished`);
  }

  /** A pending secret, or a live version promoted whose consumers were never all confirmed. */
  private unfinished(credentialId: string): boolean {
    const vault = this.world.h.env.vault;
    const live = secretNameFor(credentialId);
    const pending = `${live}-pending`;
    const latest = vault.versions(live).at(-1);
    return (vault.versions(pending).length > 0 && !vault.isDeleted(pending)) || latest?.tags[TAG.stage] === 'promoted';
  }

  private statusOf(credentialId: string): RotationStatus | undefined {
    const instance = this.world.host.listInstances().find((i) => i.instanceId === instanceIdFor(credentialId));
    return (instance?.customStatus as RotationStatus | null) ?? undefined;
  }

  private outcomeOf(credentialId: string): RotationStatus['outcome'] | undefined {
    return this.statusOf(credentialId)?.outcome;
  }
}

/** Tallies the lifecycle events the run published (started, succeeded, failed, degraded, retired). */
function countOutcomes(world: SoakWorld): void {
  world.stats.runs++;
  world.stats.postgresFaults += world.proxy.applied.splice(0).length;
  for (const delivery of world.h.env.events.deliveries.slice(world.marks.events)) {
    for (const event of delivery.events as { type?: string }[]) {
      const step = String(event.type ?? '').split('.').at(-1)!;
      world.stats.outcomes[step] = (world.stats.outcomes[step] ?? 0) + 1;
    }
  }
}

function post(credentialId: string, action: 'rotate' | 'propagate'): HttpRequest {
  return new HttpRequest({ method: 'POST', url: `http://localhost/api/credentials/${credentialId}/${action}` });
}

/** An HTTP response's body as text (it may be a stream), or whatever else a trigger returned. */
async function answerText(answer: unknown): Promise<string> {
  if (answer instanceof Response || (answer && typeof (answer as Response).text === 'function')) return `${(answer as Response).status} ${await (answer as Response).text()}`;
  return JSON.stringify(answer ?? null);
}
