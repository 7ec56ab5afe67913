import { LOCAL_DATABASE, liveLoginOf, secretNameFor, type LocalCredentialSpec } from '../../src/local/environment';
import { TAG } from '../../src/rotation/state';
import type { RotationStatus } from '../../src/rotation/status';
import type { SoakWorld } from './soak-world';

/**
 * The state at rest, after the operator's tidy-up, held to ARCHITECTURE.md's invariants and
 * the soak's extras. Returns what is wrong, one line each; [] when everything holds.
 */
export async function checkEndState(world: SoakWorld): Promise<string[]> {
  const problems: string[] = [];
  for (const spec of world.specs) problems.push(...(await checkCredential(world, spec)));
  problems.push(...checkNoSecretsAnywhere(world));
  return problems;
}

async function checkCredential(world: SoakWorld, spec: LocalCredentialSpec): Promise<string[]> {
  const problems: string[] = [];
  const vault = world.h.env.vault;
  const liveName = secretNameFor(spec.id);
  const pendingName = `${liveName}-pending`;
  const versions = vault.versions(liveName);
  const live = versions.at(-1);
  if (!live || vault.isDeleted(liveName)) return [`${spec.id}: no live secret at rest`];

  // Invariant 5: no pending secret stays behind.
  if (vault.versions(pendingName).length > 0 && !vault.isDeleted(pendingName)) problems.push(`${spec.id}: a pending secret is left at rest`);
  // Exactly one live version is enabled: the latest.
  const enabled = versions.filter((v) => v.enabled);
  if (enabled.length !== 1 || enabled[0].version !== live.version) problems.push(`${spec.id}: ${enabled.length} enabled live versions at rest (expected only the latest)`);
  if (live.tags[TAG.stage] === 'promoted') problems.push(`${spec.id}: the live version is still only promoted at rest`);

  // Invariant 9, no split brain: the live secret's login takes it; the other login is retired or idle.
  const liveLogin = live.tags[TAG.role] ?? liveLoginOf(spec);
  const answer = await world.h.env.login(liveLogin, live.value);
  if (answer !== 'accepted') problems.push(`${spec.id}: split brain: ${liveLogin} refuses the live secret (${answer})`);
  const logins = spec.strategy === 'alternating-users' ? [`${spec.role}_a`, `${spec.role}_b`] : [spec.role];
  const every = [...versions, ...vault.versions(pendingName)];
  for (const login of logins) {
    for (const v of every) {
      if (login === liveLogin && v.value === live.value) continue;
      // The catalog's "no" is exact; a "yes" is a finding only if a real login agrees.
      if ((await world.accepts(login, v.value)) && (await world.h.env.login(login, v.value)) === 'accepted') problems.push(`${spec.id}: ${login} still takes ${v.version === live.version ? 'the live value' : `version ${v.version.slice(0, 8)}`}, which is not the live credential (an old credential was not retired)`);
    }
  }

  // Consumers of a rotation that succeeded run the live value (invariant 8).
  const rotated = live.tags[TAG.rotationId] !== undefined;
  if (rotated) problems.push(...checkConsumers(world, spec, live.value, liveLogin));
  return problems;
}

function checkConsumers(world: SoakWorld, spec: LocalCredentialSpec, password: string, login: string): string[] {
  const problems: string[] = [];
  const env = world.h.env;
  for (const target of spec.github ?? []) {
    const value = env.github.secretValue({ repo: target.repo!, name: target.secret });
    if (value === undefined || !carries(value, password)) problems.push(`${spec.id}: GitHub ${target.repo}:${target.secret} does not hold the live value`);
    else if (target.format === 'database-url' && !value.includes(`//${login}:`)) problems.push(`${spec.id}: GitHub ${target.repo}:${target.secret} names a login other than the live ${login}`);
  }
  for (const a of spec.containerApps ?? []) {
    for (const replica of env.containerApps.replicas(a.app)) {
      for (const [name, secret] of Object.entries(replica.secrets)) {
        if (!carries(secret.value ?? '', password)) problems.push(`${spec.id}: Container App ${a.app} replica ${replica.name} runs an old ${name}`);
        else if (name === 'database-url' && !(secret.value ?? '').includes(`//${login}:`)) problems.push(`${spec.id}: Container App ${a.app} replica ${replica.name} connects as a login other than the live ${login}`);
      }
    }
  }
  return problems;
}

/** The value itself, or a connection string that embeds it (percent-encoded as a URL must). */
function carries(value: string, password: string): boolean {
  return value === password || (value.includes(`@`) && (value.includes(`:${password}@`) || value.includes(`:${encodeURIComponent(password)}@`)) && value.includes(`/${LOCAL_DATABASE}`));
}

/**
 * Invariant 6 and the issue's "nothing is retired after a degraded rotation": while a
 * rotation stands degraded, the previous version is still enabled and (alternating) the
 * previous login still takes it.
 */
export async function checkDegradedKeptOld(world: SoakWorld, spec: LocalCredentialSpec, status: RotationStatus): Promise<void> {
  const vault = world.h.env.vault;
  if (status.stages.some((s) => s.stage === 'retire')) world.violations.push(`${spec.id}: a degraded rotation ran retire`);
  const previous = vault.versions(secretNameFor(spec.id)).find((v) => v.version === status.previousVersion);
  if (!previous) return;
  if (!previous.enabled) world.violations.push(`${spec.id}: the previous version was disabled although the rotation is degraded`);
  if (spec.strategy !== 'alternating-users') return;
  const login = previous.tags[TAG.role];
  if (login && login !== status.role && (await world.h.env.login(login, previous.value)) !== 'accepted') world.violations.push(`${spec.id}: the previous login ${login} was retired although the rotation is degraded`);
}

/**
 * Invariant 3: no secret value (every version Key Vault holds, soft-deleted ones included,
 * the run's starting passwords, the GitHub token) in any durable store, log line, error or
 * answer, outgoing event, or the PostgreSQL server log. The values are scanned as they are,
 * percent-encoded and base64-encoded.
 */
export function checkNoSecretsAnywhere(world: SoakWorld): string[] {
  const env = world.h.env;
  const values = new Set<string>([...env.initialPasswords.values()]);
  for (const name of env.vault.secretNames()) for (const v of env.vault.versions(name)) values.add(v.value);
  for (const spec of world.specs) for (const name of [secretNameFor(spec.id), `${secretNameFor(spec.id)}-pending`, ...(spec.derived ?? []).map((d) => d.secret)]) for (const v of env.vault.versions(name)) values.add(v.value);
  const haystacks: Record<string, string> = {
    'function logs and errors': world.hosts.flatMap((host) => host.logs.map((l) => l.message)).join('\n'),
    'trigger answers': world.answers.join('\n'),
    'outgoing events': JSON.stringify(env.events.deliveries.slice(world.marks.events)),
    'PostgreSQL server log': env.postgres.serverLog.slice(world.marks.serverLog).join('\n'),
  };
  world.hosts.forEach((host, i) => (haystacks[`durable store ${i}`] = JSON.stringify(host.exportState())));
  const found: string[] = [];
  for (const value of values) {
    if (value.length < 16) continue;
    const forms = [value, encodeURIComponent(value), Buffer.from(value).toString('base64')];
    for (const [where, text] of Object.entries(haystacks)) if (forms.some((f) => text.includes(f))) found.push(`invariant 3: ${where} contains a secret value (${value.slice(0, 3)}…)`);
  }
  return found;
}
