import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import type { TargetKey } from './consumers';
import { templateFields } from './consumers';
import type { RotationDeps } from './deps';
import { FINDINGS, type HealthReport } from './drift';
import { rotationIdOf, TAG } from './state';
import { liveRoleOf } from './strategy';
import { renderTemplate } from './templates';

/**
 * What the drift check may change, as the credential's `repair` setting allows: `none`
 * (the default) changes nothing; `propagate` rewrites stale derived secrets and re-pushes
 * the live version to stale consumers; `rotate` also starts a rotation when the live secret
 * no longer logs in. A rotation keeps Key Vault the authority: the new password is stored
 * in Key Vault before the database gets it, and it reaches every consumer.
 */
export type RepairPlan =
  | { kind: 'none'; reason: string }
  | { kind: 'rotate'; reason: string }
  | { kind: 'propagate'; reason: string; targets: TargetKey[]; derived: string[] };

export function planRepair(credential: Credential, report: HealthReport): RepairPlan {
  const wanted = report.findings.filter((f) => FINDINGS[f.code].repair !== 'none');
  if (wanted.length === 0) return { kind: 'none', reason: 'nothing a repair can fix' };
  if (credential.repair === 'none') return { kind: 'none', reason: `repair is off for ${credential.id} (set repair: propagate or rotate)` };
  const rotate = wanted.filter((f) => FINDINGS[f.code].repair === 'rotate');
  if (rotate.length > 0) {
    if (credential.repair === 'rotate') return { kind: 'rotate', reason: rotate.map((f) => f.code).join(', ') };
    return { kind: 'none', reason: `${rotate.map((f) => f.code).join(', ')} needs a rotation, and repair is propagate` };
  }
  // A consumer that also has a finding a propagation cannot mend (an app secret that is no Key Vault reference) would fail it: left to the operator.
  const blocked = new Set(report.findings.filter((f) => FINDINGS[f.code].repair === 'none' && f.target !== undefined).map((f) => f.target!));
  const stale = wanted.filter((f) => f.target !== undefined && !blocked.has(f.target));
  if (stale.length === 0) return { kind: 'none', reason: `${wanted.map((f) => f.code).join(', ')} cannot be propagated while ${[...blocked].join(', ')} needs the operator first` };
  return {
    kind: 'propagate',
    reason: stale.map((f) => f.code).join(', '),
    targets: [...new Set(stale.map((f) => f.target!).filter((t) => /^(github|container-app):\d+$/.test(t)))],
    derived: [...new Set(stale.filter((f) => f.code === 'derived-stale').map((f) => f.target!))],
  };
}

/** Rewrites the named derived secrets from the live version, tagged as the live version is. */
export async function rewriteDerived(deps: RotationDeps, credential: Credential, names: readonly string[]): Promise<void> {
  if (names.length === 0) return;
  const vault = deps.vault(credential.keyVault.url);
  const live = await vault.latest('repair', credential.keyVault.secret);
  if (!live) throw new RotationError({ code: 'no-live-secret', stage: 'repair', message: `Key Vault has no secret ${credential.keyVault.secret} to render derived secrets from` });
  const fields = await templateFields(deps, credential, live.version);
  for (const d of credential.keyVault.derived.filter((x) => names.includes(x.secret))) {
    const rotationId = rotationIdOf(live);
    const tags = { [TAG.credential]: credential.id, [TAG.role]: liveRoleOf(credential, live), ...(rotationId ? { [TAG.rotationId]: rotationId } : {}) };
    await vault.write('repair', d.secret, renderTemplate(d.template, fields), { tags });
  }
}
