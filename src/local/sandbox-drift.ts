import type { DriftOutcome } from '../rotation/drift-run';
import { instanceIdFor } from '../orchestrations/contract';
import type { DurableHost } from './durable-host';
import type { LocalEnvironment } from './environment';

/**
 * The sandbox's last act: the driftCheck timer over every credential, then one role's
 * password changed behind Key Vault's back, detected, and repaired by a rotation (the
 * credential says `repair: rotate`), and checked again.
 */
export async function showDrift(env: LocalEnvironment, host: DurableHost, victim: { id: string; role: string }): Promise<boolean> {
  console.log('\n4. The driftCheck timer compares every credential with Key Vault');
  const clean = await driftCheck(host);
  for (const o of clean) console.log(`   ${o.credentialId}: ${o.report?.health ?? o.skipped}`);
  console.log(`   an administrator changes the password of ${victim.role} by hand, behind Key Vault's back`);
  await changeBehindKeyVault(env, victim.role);
  const outcomes = await driftCheck(host);
  for (const o of outcomes.filter((x) => x.report?.health === 'drifted')) {
    for (const f of o.report!.findings.filter((x) => x.severity !== 'warning')) console.log(`drift ${o.credentialId}: ${f.code} detected`);
  }
  const repaired: string[] = [];
  for (const o of outcomes.filter((x) => x.repaired?.some((r) => r.endsWith('started')))) {
    const done = await host.waitForCompletion(instanceIdFor(o.credentialId), { timeoutMs: 120_000 });
    const again = (await driftCheck(host)).find((x) => x.credentialId === o.credentialId);
    if (done.runtimeStatus === 'Completed' && again?.report?.health === 'healthy') {
      console.log(`drift ${o.credentialId}: repaired`);
      repaired.push(o.credentialId);
    }
  }
  const healthy = outcomes.filter((o) => o.report?.health === 'healthy').length;
  const drifted = outcomes.length - healthy;
  console.log(`drift check: ${healthy} healthy, ${drifted} drifted, ${repaired.length} repaired`);
  return clean.every((o) => o.report?.health === 'healthy') && drifted === 1 && repaired.includes(victim.id);
}

async function driftCheck(host: DurableHost): Promise<DriftOutcome[]> {
  const outcomes = (await host.invokeTimer('driftCheck')) as DriftOutcome[];
  host.logs.length = 0;
  return outcomes;
}

async function changeBehindKeyVault(env: LocalEnvironment, role: string): Promise<void> {
  const admin = await env.postgres.connect();
  try {
    await admin.query(`ALTER ROLE ${admin.escapeIdentifier(role)} PASSWORD ${admin.escapeLiteral(`set-by-hand-${Date.now()}-0000000000000000`)}`);
  } finally {
    await admin.end();
  }
}
