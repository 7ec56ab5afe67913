import type { Credential } from '../config/schema';
import type { RotationDeps } from './deps';
import { checkDrift, type HealthReport } from './drift';
import { recordHealth, type Recorded } from './drift-health';
import { planRepair, rewriteDerived, type RepairPlan } from './drift-repair';
import type { TargetKey } from './consumers';

/** How the caller (timer, CLI, sandbox) reaches the durable instances: the domain never imports Functions. */
export interface Rotations {
  isRunning(credentialId: string): Promise<boolean>;
  /** Starts `rotate-<id>`: a rotation, or a propagation of the live version to `targets`. */
  start(credentialId: string, request: { mode: 'rotate' | 'propagate'; targets?: TargetKey[] }): Promise<'started' | 'running'>;
}

export interface DriftOutcome {
  credentialId: string;
  /** Absent when the check was skipped because a rotation is running. */
  report?: HealthReport;
  skipped?: string;
  plan?: RepairPlan;
  /** What the repair did: a derived rewrite, a started rotation or propagation. */
  repaired?: string[];
  recorded?: Recorded;
}

/** One credential: check, record the health (events on a change), then repair as the credential allows. */
export async function runDriftCheck(deps: RotationDeps, credential: Credential, rotations: Rotations): Promise<DriftOutcome> {
  if (await rotations.isRunning(credential.id)) return { credentialId: credential.id, skipped: `a rotation of ${credential.id} is running; it is checked next time` };
  const report = await checkDrift(deps, credential);
  const recorded = await recordHealth(deps, credential, report);
  const plan = planRepair(credential, report);
  return { credentialId: credential.id, report, plan, recorded, repaired: await repair(deps, credential, plan, rotations) };
}

async function repair(deps: RotationDeps, credential: Credential, plan: RepairPlan, rotations: Rotations): Promise<string[]> {
  if (plan.kind === 'none') return [];
  if (plan.kind === 'rotate') return [`rotation ${await rotations.start(credential.id, { mode: 'rotate' })}`];
  const done: string[] = [];
  await rewriteDerived(deps, credential, plan.derived);
  if (plan.derived.length > 0) done.push(`rewrote ${plan.derived.join(', ')}`);
  if (plan.targets.length > 0) done.push(`propagation to ${plan.targets.join(', ')} ${await rotations.start(credential.id, { mode: 'propagate', targets: plan.targets })}`);
  return done;
}
