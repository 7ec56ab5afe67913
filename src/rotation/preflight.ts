import type { Credential } from '../config/schema';
import { RotationError } from '../errors';
import { CONTAINER_APPS_ACTIONS } from '../targets/arm-actions';
import { KEY_VAULT_SECRET_ACCESS, KEY_VAULT_SECRET_PERMISSIONS, type KeyVaultSecretPermission } from '../targets/key-vault-actions';
import { grantsAction, type Permission } from '../targets/arm-permissions';
import { appResourceId, describeApp, type ContainerAppRef } from '../targets/container-apps';
import { parseSecretReference } from './container-app-consumer';
import type { RotationDeps } from './deps';
import { loginRoles } from './strategy';

/**
 * Preflight: every permission and precondition a rotation needs, checked without changing
 * anything, and every failure reported in one run with the fix beside it.
 */

export interface PreflightRow {
  /** Absent for checks that concern the service as a whole (the events topic). */
  credentialId?: string;
  area: 'Key Vault' | 'PostgreSQL' | 'GitHub' | 'Container Apps' | 'Event Grid';
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** The oldest Azure Flexible Server major this service supports. */
const MIN_SERVER_VERSION = 130000;

export async function preflight(deps: RotationDeps, credentials: readonly Credential[], options: { events: boolean } = { events: true }): Promise<PreflightRow[]> {
  const rows: PreflightRow[] = [];
  for (const c of credentials) {
    rows.push(...(await keyVault(deps, c)), ...(await postgres(deps, c)), ...(await gitHub(deps, c)), ...(await containerApps(deps, c)));
  }
  if (options.events) rows.push(await eventGrid(deps));
  return rows;
}

type Row = Omit<PreflightRow, 'ok' | 'detail' | 'fix'>;

function pass(row: Row, detail: string): PreflightRow {
  return { ...row, ok: true, detail };
}

function fail(row: Row, detail: string, fix: string): PreflightRow {
  return { ...row, ok: false, detail, fix };
}

/** A check that throws is a ✗ with the service's own words, not an aborted run. */
async function attempt(row: Row, fix: string, check: () => Promise<PreflightRow | PreflightRow[]>): Promise<PreflightRow[]> {
  try {
    const result = await check();
    return Array.isArray(result) ? result : [result];
  } catch (error) {
    if (!(error instanceof RotationError)) throw error;
    return [fail(row, error.message, fix)];
  }
}

async function keyVault(deps: RotationDeps, c: Credential): Promise<PreflightRow[]> {
  const base = { credentialId: c.id, area: 'Key Vault' as const };
  const rows = await vaultPermissions(deps, c.id, c.keyVault.url, KEY_VAULT_SECRET_PERMISSIONS, 'the Key Vault secret rotator role (infra/app/key-vault-role.bicep)');
  const github = deps.config.github?.auth;
  const needsGitHubKey = github && c.consumers.github.length > 0 && sameVault(github.vaultUrl, c.keyVault.url) === false;
  if (needsGitHubKey) rows.push(...(await vaultPermissions(deps, c.id, github.vaultUrl, ['get'], 'Key Vault Secrets User')));
  const live = { ...base, check: `live secret ${c.keyVault.secret} readable` };
  rows.push(
    ...(await attempt(live, 'grant the service identity the Key Vault secret rotator role on the vault', async () => {
      const found = await deps.vault(c.keyVault.url).latest('preflight', c.keyVault.secret);
      return found
        ? pass(live, `version ${found.version}${found.expiresOn ? `, expires ${found.expiresOn}` : ', no expiry'}`)
        : fail(live, `Key Vault has no secret ${c.keyVault.secret}`, `put the role's current password there: az keyvault secret set --vault-name <vault> --name ${c.keyVault.secret} --file password.txt --expires <date>`);
    })),
  );
  return rows;
}

function sameVault(a: string, b: string): boolean {
  return a.replace(/\/+$/, '').toLowerCase() === b.replace(/\/+$/, '').toLowerCase();
}

/** One row per permission: the caller's effective data actions at the vault, read from ARM. */
async function vaultPermissions(deps: RotationDeps, credentialId: string, url: string, needed: KeyVaultSecretPermission[], role: string): Promise<PreflightRow[]> {
  const base = { credentialId, area: 'Key Vault' as const };
  // Any credential of the same vault may name its resource id.
  const resourceId = deps.config.credentials.find((c) => sameVault(c.keyVault.url, url) && c.keyVault.resourceId)?.keyVault.resourceId;
  if (!resourceId) {
    const row = { ...base, check: `permissions on ${new URL(url).host}` };
    return [fail(row, 'the vault\'s ARM resource id is not configured, so its permissions cannot be read', 'set keyVault.resourceId (az keyvault show --name <vault> --query id -o tsv) on a credential of this vault')];
  }
  const read = { ...base, check: `permissions at ${resourceId}` };
  return attempt(read, 'let the service identity sign in to Azure Resource Manager, and check keyVault.resourceId', async () => {
    const permissions = await deps.armPermissions().forResource('preflight', resourceId);
    return needed.map((p) => permissionRow(base, p, permissions, role));
  });
}

function permissionRow(base: Omit<Row, 'check'>, permission: KeyVaultSecretPermission, permissions: Permission[], role: string): PreflightRow {
  const row = { ...base, check: `secrets ${permission}` };
  const missing = KEY_VAULT_SECRET_ACCESS[permission].filter((a) => !grantsAction(permissions, a, 'data'));
  if (missing.length === 0) return pass(row, KEY_VAULT_SECRET_ACCESS[permission].join(', '));
  return fail(row, `not granted: ${missing.join(', ')}`, `assign the service identity ${role} on the vault (the Bicep does, for vaults listed in KEY_VAULTS)`);
}

async function postgres(deps: RotationDeps, c: Credential): Promise<PreflightRow[]> {
  const base = { credentialId: c.id, area: 'PostgreSQL' as const };
  const login = { ...base, check: `admin login ${c.postgres.admin.user}` };
  const inspector = deps.inspectPostgres(c);
  const rows = await attempt(login, adminLoginFix(c), async () => {
    const server = await inspector.server('preflight');
    const scram = { ...base, check: 'SCRAM-SHA-256 accepted' };
    const accepted = server.acceptedAuthMethods === undefined || /scram-sha-256/i.test(server.acceptedAuthMethods);
    return [
      pass(login, `logged in to ${c.postgres.host}:${c.postgres.port}/${c.postgres.database} as ${server.user}`),
      server.versionNum >= MIN_SERVER_VERSION
        ? pass({ ...base, check: 'server version' }, server.version)
        : fail({ ...base, check: 'server version' }, `${server.version} is older than 13`, 'upgrade the server to PostgreSQL 13 or later'),
      accepted
        ? pass(scram, `password_encryption ${server.passwordEncryption}${server.acceptedAuthMethods ? `, azure.accepted_password_auth_method ${server.acceptedAuthMethods}` : ''}`)
        : fail(scram, `azure.accepted_password_auth_method is ${server.acceptedAuthMethods}`, 'add scram-sha-256 to the server parameter azure.accepted_password_auth_method'),
    ];
  });
  if (!rows[0].ok) return rows;
  rows.push(...(await attempt({ ...base, check: 'roles' }, 'check that the rotator may read pg_roles', () => roleRows(deps, c))));
  rows.push(...(await attempt({ ...base, check: 'rotator\'s allow-list' }, rerunRotatorScript(c), () => allowListRows(deps, c))));
  return rows;
}

const ALLOW_LIST_UNREADABLE = {
  'no-schema': 'schema credential_rotation does not exist: infra/postgres/10-rotator.sql was never run on this server',
  'missing': 'function credential_rotation.is_allowed(text) does not exist: the server was bootstrapped with a 10-rotator.sql older than it',
  'not-granted': 'the rotator may not execute credential_rotation.is_allowed(text)',
} as const;

/** Each login role on the allow-list the password functions enforce, read through the one function that answers it. */
async function allowListRows(deps: RotationDeps, c: Credential): Promise<PreflightRow[]> {
  const base = { credentialId: c.id, area: 'PostgreSQL' as const };
  const roles = loginRoles(c);
  const list = await deps.inspectPostgres(c).allowList('preflight', roles);
  if (list.state !== 'ok') return [fail({ ...base, check: 'rotator\'s allow-list readable' }, ALLOW_LIST_UNREADABLE[list.state], rerunRotatorScript(c))];
  return roles.map((role) => {
    const row = { ...base, check: `role ${role} on the rotator's allow-list` };
    return list.allowed.get(role) ? pass(row, 'listed in credential_rotation.managed_role') : fail(row, 'not listed: the password functions refuse it', managedRoleScript(c));
  });
}

function rerunRotatorScript(c: Credential): string {
  return `as the administrator, run (again: it changes nothing that is already right) psql "<admin connection>" -v ON_ERROR_STOP=1 -v rotator_role=${c.postgres.admin.user} -f infra/postgres/10-rotator.sql`;
}

function managedRoleScript(c: Credential): string {
  const [a, b] = loginRoles(c);
  return c.strategy === 'alternating-users'
    ? `as the administrator, run psql "<admin connection>" -v ON_ERROR_STOP=1 -v group_role=${c.postgres.group} -v login_a=${a} -v login_b=${b} -f infra/postgres/21-alternating-users.sql`
    : `as the administrator, run psql "<admin connection>" -v ON_ERROR_STOP=1 -v managed_role=${a} -f infra/postgres/20-single-user.sql`;
}

function adminLoginFix(c: Credential): string {
  return c.postgres.admin.auth === 'entra'
    ? `create the Entra principal ${c.postgres.admin.user} on the server (infra/postgres/00-entra-principal.sql) and allow the Function App to reach it`
    : `check the password in Key Vault secret ${c.postgres.admin.secret} and that ${c.postgres.admin.user} may log in`;
}

async function roleRows(deps: RotationDeps, c: Credential): Promise<PreflightRow[]> {
  const roles = loginRoles(c);
  const inspector = deps.inspectPostgres(c);
  const [facts, rights] = await Promise.all([inspector.roles('preflight', roles), inspector.rights('preflight', roles)]);
  const script = c.strategy === 'alternating-users' ? '21-alternating-users.sql' : '20-single-user.sql';
  return facts.flatMap((f, i) => {
    const base = { credentialId: c.id, area: 'PostgreSQL' as const };
    const state = { ...base, check: `role ${f.role}` };
    if (!f.exists) return [fail(state, 'does not exist', `run infra/postgres/${script} for it`)];
    // Alternating users: only the first login need log in before its first rotation; the idle one gets LOGIN from the rotator.
    const needsLogin = c.strategy === 'single-user' || i === 0;
    const stateRow = needsLogin && !f.canLogin
      ? fail(state, 'NOLOGIN', `ALTER ROLE ${f.role} LOGIN`)
      : pass(state, `${f.canLogin ? 'LOGIN' : 'NOLOGIN'}, connection limit ${f.connectionLimit}${f.validUntil ? `, valid until ${f.validUntil}` : ''}`);
    const r = rights.find((x) => x.role === f.role);
    const right = { ...base, check: `rotator may set the password of ${f.role}` };
    const rightsRow = r !== undefined && r.execute && r.ownerMayAlter
      ? pass(right, 'EXECUTE on credential_rotation.set_password, whose owner may alter the role')
      : fail(right, [r?.execute ? '' : 'no EXECUTE on credential_rotation.set_password', r?.ownerMayAlter ? '' : 'the functions\' owner may not alter the role'].filter(Boolean).join('; '), `run infra/postgres/10-rotator.sql and ${script} as an administrator`);
    return [stateRow, rightsRow];
  });
}

async function gitHub(deps: RotationDeps, c: Credential): Promise<PreflightRow[]> {
  const rows: PreflightRow[] = [];
  for (const t of c.consumers.github) {
    const where = `${t.org ? `org:${t.org}` : t.repo}${t.environment ? `@${t.environment}` : ''}`;
    const row = { credentialId: c.id, area: 'GitHub' as const, check: `public key of ${where}` };
    const fix = 'give the GitHub App (or token) Secrets: read and write on it (organisation secrets: the organisation permission), and check the repository or environment name';
    rows.push(...(await attempt(row, fix, async () => pass(row, `key ${await deps.github().publicKeyId('preflight', t.org ? { org: t.org, name: t.secret } : { repo: t.repo!, environment: t.environment, name: t.secret })}`))));
  }
  return rows;
}

async function containerApps(deps: RotationDeps, c: Credential): Promise<PreflightRow[]> {
  const rows: PreflightRow[] = [];
  for (const a of c.consumers.containerApps) {
    const ref: ContainerAppRef = { subscription: a.subscription, resourceGroup: a.resourceGroup, app: a.app };
    const base = { credentialId: c.id, area: 'Container Apps' as const };
    const readable = { ...base, check: `${a.app} readable` };
    rows.push(...(await attempt(readable, `grant the service identity the Container Apps revision restarter role on resource group ${a.resourceGroup}`, async () => pass(readable, `${describeApp(ref)}, latest revision ${(await deps.containerApps().readApp('preflight', ref)).latestRevision ?? 'none'}`))));
    if (a.mode === 'key-vault-reference') rows.push(...(await appSecretRows(deps, c, a)));
    const actions = { ...base, check: `${a.app} actions granted` };
    rows.push(
      ...(await attempt(actions, 'let the service identity sign in to Azure Resource Manager', async () => {
        const permissions = await deps.armPermissions().forResource('preflight', appResourceId(ref));
        const missing = CONTAINER_APPS_ACTIONS.filter((x) => !grantsAction(permissions, x, 'control'));
        return missing.length === 0
          ? pass(actions, CONTAINER_APPS_ACTIONS.join(', '))
          : fail(actions, `not granted: ${missing.join(', ')}`, `assign the Container Apps revision restarter role on resource group ${a.resourceGroup} (CONTAINER_APPS_RESOURCE_GROUPS in the deployment)`);
      })),
    );
  }
  return rows;
}

/**
 * Each mapped app secret must already be a Key Vault reference, with an identity, to the
 * configured Key Vault secret (any version): propagation only repoints it, and refuses a value.
 */
async function appSecretRows(deps: RotationDeps, c: Credential, a: Credential['consumers']['containerApps'][number]): Promise<PreflightRow[]> {
  const ref: ContainerAppRef = { subscription: a.subscription, resourceGroup: a.resourceGroup, app: a.app };
  const base = { credentialId: c.id, area: 'Container Apps' as const };
  const read = { ...base, check: `${a.app} secrets` };
  return attempt(read, `grant the service identity the Container Apps revision restarter role on resource group ${a.resourceGroup}`, async () => {
    const { secrets } = await deps.containerApps().configuration('preflight', ref);
    return a.secrets.map((m) => {
      const row = { ...base, check: `${a.app} secret ${m.name} references ${m.keyVaultSecret}` };
      const wanted = `${c.keyVault.url.replace(/\/+$/, '')}/secrets/${m.keyVaultSecret}`;
      const fix = `az containerapp secret set --name ${a.app} --resource-group ${a.resourceGroup} --secrets ${m.name}=keyvaultref:${wanted},identityref:<identity resource id, or system>`;
      const found = secrets.find((s) => s.name === m.name);
      if (!found) return fail(row, `${describeApp(ref)} has no secret ${m.name}`, fix);
      if (!found.keyVaultUrl) return fail(row, 'holds a plain value, not a Key Vault reference', fix);
      if (!found.identity) return fail(row, `references ${found.keyVaultUrl} with no identity`, fix);
      const actual = parseSecretReference(found.keyVaultUrl);
      const expected = parseSecretReference(wanted)!;
      if (actual?.vault !== expected.vault || actual.name !== expected.name) return fail(row, `references ${found.keyVaultUrl}, another secret`, fix);
      return pass(row, `Key Vault reference ${found.keyVaultUrl} with identity ${found.identity}`);
    });
  });
}

async function eventGrid(deps: RotationDeps): Promise<PreflightRow> {
  const row = { area: 'Event Grid' as const, check: 'lifecycle topic reachable' };
  if (!deps.events) return pass(row, 'publishing is off (ROTATOR_EVENTS_ENDPOINT is empty)');
  const fix = 'check ROTATOR_EVENTS_ENDPOINT and give the service identity EventGrid Data Sender on the topic';
  return (await attempt(row, fix, async () => {
    await deps.events!.probe('preflight');
    return pass(row, 'the topic answered and accepted the credential (an empty batch, nothing published)');
  }))[0];
}

/** Whether every row passed: the exit code and the HTTP status follow it. */
export function allPassed(rows: readonly PreflightRow[]): boolean {
  return rows.every((r) => r.ok);
}
