import { isIP } from 'node:net';
import { z } from 'zod';

/**
 * The credential configuration: the single source of every key's name, default and
 * meaning. `describe` texts feed the README's configuration table.
 */

const identifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lower-case PostgreSQL identifier: a letter or underscore, then letters, digits or underscores, at most 63 characters');

// Leaves room for the "-pending" suffix within Key Vault's 127-character limit.
const secretName = z.string().regex(/^[0-9a-zA-Z-]{1,119}$/, 'must be a Key Vault secret name: letters, digits and dashes, at most 119 characters');

// A DNS name (labels of letters, digits and inner dashes) or an IP address: nothing that
// could end the host part of a URI or a libpq keyword string.
const hostName = z
  .string()
  .max(253)
  .refine((h) => /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/.test(h) || isIP(h) !== 0, 'must be a DNS host name or an IP address');

// PostgreSQL allows nearly any name (`sales#eu` included; templates percent-encode it in a
// URI), but not one longer than 63 bytes, and control characters only break scripts and logs.
const databaseName = z
  .string()
  .min(1)
  .refine((d) => Buffer.byteLength(d) <= 63, 'must be at most 63 bytes (NAMEDATALEN)')
  .refine((d) => !/[\u0000-\u001f\u007f]/.test(d), 'must not contain control characters');

// GitHub's own rules (https://docs.github.com/en/actions/security-for-github-actions/security-guides/using-secrets-in-github-actions#naming-your-secrets,
// and the user and repository name rules of the web UI): checked here because each name
// becomes a path segment of the REST API, where `..` would climb a level.
const gitHubLogin = /^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$/;
const gitHubRepoName = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,100}$/;
const gitHubRepo = z
  .string()
  .refine((r) => r.split('/').length === 2 && gitHubLogin.test(r.split('/')[0]) && gitHubRepoName.test(r.split('/')[1]), 'must be owner/name: an owner of letters, digits and single inner dashes (at most 39), a name of letters, digits, ".", "-" and "_" (at most 100, not "." or "..")');
const gitHubEnvironment = z
  .string()
  .min(1)
  .max(255)
  .refine((e) => e.trim() !== '' && !/^\.{1,2}$/.test(e.trim()) && !/[\u0000-\u001f\u007f/\\?#%]/.test(e), 'must be a GitHub environment name: at most 255 characters, not "." or "..", without "/", "\\", "?", "#", "%" or control characters');
const gitHubSecretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be a GitHub secret name: letters, digits and underscores, not starting with a digit')
  .refine((n) => !/^GITHUB_/i.test(n), 'must not start with GITHUB_ (GitHub reserves the prefix)');

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|::1)$/i;

const httpsUrl = z.url({ protocol: /^https$/, error: 'must be an https:// URL' });

const adminAuth = z.discriminatedUnion('auth', [
  z.object({
    auth: z.literal('entra').describe('Microsoft Entra token of the service identity, scope https://ossrdbms-aad.database.windows.net/.default'),
    user: z.string().min(1).describe('PostgreSQL role name of the Entra principal (the managed identity name)'),
  }),
  z.object({
    auth: z.literal('password').describe('A password kept in Key Vault'),
    user: identifier.describe('PostgreSQL role the rotator logs in as'),
    secret: secretName.describe('Key Vault secret (in the credential vault) holding that role\'s password'),
  }),
]);

const postgres = z.object({
  host: hostName.describe('Server host name'),
  port: z.number().int().min(1).max(65535).default(5432).describe('Server port'),
  database: databaseName.describe('Database the probe connects to'),
  ssl: z.enum(['require', 'disable']).default('require').describe('TLS from the rotator to the server, the certificate verified against the host name; disable only for a loopback host and never with Entra admin auth'),
  consumerSslMode: z
    .enum(['verify-full', 'verify-ca', 'require', 'disable'])
    .default('verify-full')
    .describe('sslmode of the database-url consumers receive ({sslmode} in templates); verify-full and verify-ca add sslrootcert=system (libpq 16+)'),
  role: identifier.optional().describe('single-user: the login role whose password rotates'),
  roles: z.tuple([identifier, identifier]).optional().describe('alternating-users: the two login roles'),
  group: identifier.optional().describe('alternating-users: the NOLOGIN group role that owns the objects'),
  admin: adminAuth.describe('How the rotator itself logs in'),
  probeQuery: z.string().min(1).optional().describe('Read-only query run after SELECT 1 to verify the new credential'),
  connectTimeoutSeconds: z.number().int().min(1).max(120).default(10).describe('Connection timeout'),
});

const derivedSecret = z.object({
  secret: secretName.describe('Name of the derived Key Vault secret'),
  template: z.string().min(1).describe('Template over {user} {password} {host} {port} {database} {sslmode}; inside a URI, user, password and database are percent-encoded and an IPv6 host bracketed'),
});

const keyVault = z.object({
  url: httpsUrl.describe('Vault URL, e.g. https://myvault.vault.azure.net'),
  secret: secretName.describe('The live secret: the source of truth for the password'),
  derived: z.array(derivedSecret).default([]).describe('Secrets rewritten from templates at promote'),
  resourceId: z
    .string()
    .regex(/^\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.KeyVault\/vaults\/[^/]+$/i, 'must be a vault resource id: /subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.KeyVault/vaults/<name>')
    .optional()
    .describe('ARM resource id of the vault; preflight reads the service\'s effective permissions at this scope'),
});

const githubTarget = z.object({
  repo: gitHubRepo.optional().describe('Repository owner/name (repository or environment secret)'),
  org: z.string().regex(gitHubLogin, 'must be a GitHub organisation name: letters, digits and single inner dashes, at most 39 characters').optional().describe('Organisation (organisation secret); exactly one of repo and org'),
  environment: gitHubEnvironment.optional().describe('Deployment environment of the repository'),
  secret: gitHubSecretName.describe('GitHub Actions secret name'),
  format: z.string().min(1).default('password').describe('password, database-url, or the name of a derived secret'),
  visibility: z
    .enum(['private', 'all'])
    .optional()
    .describe('Organisation secret the rotator creates: private (default) or all repositories; an existing one keeps its visibility and selected repositories'),
});

const appSecretMapping = z.object({
  name: z
    .string()
    .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, 'must be a Container App secret name: lower-case letters, digits, - and ., starting and ending with a letter or digit')
    .describe('The app secret (configuration.secrets[].name), a Key Vault reference with the app\'s identity'),
  keyVaultSecret: secretName.describe('The Key Vault secret it carries: the live secret or a derived one'),
});

const containerAppTarget = z.object({
  subscription: z.string().min(1).describe('Subscription id of the Container App'),
  resourceGroup: z.string().min(1).describe('Resource group of the Container App'),
  app: z.string().min(1).describe('Container App name'),
  mode: z
    .enum(['key-vault-reference', 'restart-only'])
    .default('key-vault-reference')
    .describe('key-vault-reference: the mapped app secrets are pointed at the new version, then the active revisions restart; restart-only: the app reads Key Vault itself at start-up, so its active revisions only restart'),
  secrets: z.array(appSecretMapping).default([]).describe('key-vault-reference: each app secret and the Key Vault secret it carries'),
});

const githubAuth = z.discriminatedUnion('auth', [
  z.object({
    auth: z.literal('app').describe('A GitHub App installation token'),
    appId: z.union([z.string().min(1), z.number().int()]).describe('GitHub App id'),
    installationId: z.union([z.string().min(1), z.number().int()]).describe('Installation id of the app on the organisation'),
    privateKeySecret: secretName.describe('Key Vault secret holding the app private key (PEM)'),
    vaultUrl: httpsUrl.describe('Vault holding the private key'),
  }),
  z.object({
    auth: z.literal('token').describe('A token kept in Key Vault'),
    tokenSecret: secretName.describe('Key Vault secret holding the token'),
    vaultUrl: httpsUrl.describe('Vault holding the token'),
  }),
]);

const weekday = z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']);

const tuning = {
  rotationDays: z.number().int().min(1).max(3650).describe('Rotate when the live version is this old'),
  validityDays: z.number().int().min(1).max(3650).describe('Expiry of a new live version, in days from promote'),
  expiryMarginDays: z.number().int().min(0).max(365).describe('Rotate when the live version expires within this many days'),
  graceMinutes: z.number().int().min(0).max(7 * 24 * 60).describe('Wait after confirm before the old credential is retired'),
  password: z.object({ length: z.number().int().min(32).max(128).describe('Generated password length (at least 32)') }),
  confirmTimeoutMinutes: z.number().int().min(1).max(240).describe('How long confirm waits for restarted revisions to run healthy'),
  minIntervalMinutes: z.number().int().min(0).max(7 * 24 * 60).describe('The API refuses (429) a manual rotate or propagate this soon after the last one completed, unless the body is {"force": true}'),
};

const credential = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes, at most 63 characters').describe('Credential id; the durable instance is rotate-<id>'),
    strategy: z.enum(['single-user', 'alternating-users']).default('single-user').describe('single-user or alternating-users'),
    postgres,
    keyVault,
    consumers: z
      .object({ github: z.array(githubTarget).default([]), containerApps: z.array(containerAppTarget).default([]) })
      .default({ github: [], containerApps: [] }),
    window: z
      .object({
        days: z.array(weekday).min(1).describe('Weekdays (UTC) on which scheduled rotations may start'),
        hoursUtc: z.tuple([z.number().int().min(0).max(23), z.number().int().min(1).max(24)]).describe('[start, end) hours UTC in which scheduled rotations may start'),
      })
      .optional()
      .describe('Rotation window for scheduled runs'),
    rotationDays: tuning.rotationDays.optional().describe('Overrides defaults.rotationDays'),
    validityDays: tuning.validityDays.optional().describe('Overrides defaults.validityDays'),
    expiryMarginDays: tuning.expiryMarginDays.optional().describe('Overrides defaults.expiryMarginDays'),
    graceMinutes: tuning.graceMinutes.optional().describe('Overrides defaults.graceMinutes'),
    password: tuning.password.optional().describe('Overrides defaults.password'),
    confirmTimeoutMinutes: tuning.confirmTimeoutMinutes.optional().describe('Overrides defaults.confirmTimeoutMinutes'),
    minIntervalMinutes: tuning.minIntervalMinutes.optional().describe('Overrides defaults.minIntervalMinutes'),
    repair: z.enum(['none', 'propagate', 'rotate']).default('none').describe('What the drift check may change: none; propagate (rewrite stale derived secrets, re-push stale consumers); rotate (also start a rotation when the live secret does not log in)'),
    retireSessions: z.enum(['end', 'report']).default('end').describe('alternating-users: when the old login retires, end its remaining sessions, or only report how many remain'),
  })
  .superRefine((c, ctx) => {
    if (c.strategy === 'single-user' && !c.postgres.role) ctx.addIssue({ code: 'custom', path: ['postgres', 'role'], message: 'is required for the single-user strategy' });
    if (c.strategy === 'alternating-users') {
      if (!c.postgres.roles) ctx.addIssue({ code: 'custom', path: ['postgres', 'roles'], message: 'is required for the alternating-users strategy (two login roles)' });
      else if (c.postgres.roles[0] === c.postgres.roles[1]) ctx.addIssue({ code: 'custom', path: ['postgres', 'roles'], message: 'must name two different roles' });
      if (!c.postgres.group) ctx.addIssue({ code: 'custom', path: ['postgres', 'group'], message: 'is required for the alternating-users strategy (the NOLOGIN group role)' });
    }
    if (c.postgres.ssl === 'disable' && !LOOPBACK.test(c.postgres.host)) ctx.addIssue({ code: 'custom', path: ['postgres', 'ssl'], message: `may be disable only for a loopback host, not ${c.postgres.host}: the password and the rotator's login would cross the network in clear` });
    if (c.postgres.ssl === 'disable' && c.postgres.admin.auth === 'entra') ctx.addIssue({ code: 'custom', path: ['postgres', 'ssl'], message: 'may not be disable with Entra admin auth: whatever answers on the port would receive the Entra token' });
    c.consumers.github.forEach((t, i) => {
      if (!t.repo === !t.org) ctx.addIssue({ code: 'custom', path: ['consumers', 'github', i], message: 'must name exactly one of repo or org' });
      if (t.org && t.environment) ctx.addIssue({ code: 'custom', path: ['consumers', 'github', i, 'environment'], message: 'applies to repository secrets only' });
      if (t.visibility && !t.org) ctx.addIssue({ code: 'custom', path: ['consumers', 'github', i, 'visibility'], message: 'applies to organisation secrets only' });
    });
    c.consumers.containerApps.forEach((a, i) => checkContainerApp(c, a, (path, message) => ctx.addIssue({ code: 'custom', path: ['consumers', 'containerApps', i, ...path], message })));
  });

type ContainerAppTarget = z.output<typeof containerAppTarget>;

/** An app must name what it carries; with alternating users the login changes, so something must carry the user. */
function checkContainerApp(c: { strategy: string; keyVault: z.output<typeof keyVault> }, a: ContainerAppTarget, issue: (path: (string | number)[], message: string) => void): void {
  if (a.mode === 'restart-only') {
    if (a.secrets.length > 0) issue(['secrets'], 'applies to mode key-vault-reference only: a restart-only app reads Key Vault itself');
    return;
  }
  if (a.secrets.length === 0) issue(['secrets'], 'must map at least one app secret to a Key Vault secret (or set mode: restart-only for an app that reads Key Vault itself at start-up)');
  const carried = [c.keyVault.secret, ...c.keyVault.derived.map((d) => d.secret)];
  a.secrets.forEach((m, j) => {
    if (!carried.includes(m.keyVaultSecret)) issue(['secrets', j, 'keyVaultSecret'], `must be the live secret ${c.keyVault.secret} or a derived secret`);
    if (a.secrets.findIndex((o) => o.name === m.name) !== j) issue(['secrets', j, 'name'], 'is mapped twice');
  });
  const carriesUser = a.secrets.some((m) => c.keyVault.derived.some((d) => d.secret === m.keyVaultSecret && d.template.includes('{user}')));
  if (c.strategy === 'alternating-users' && a.secrets.length > 0 && !carriesUser) {
    issue(['secrets'], 'alternating-users: the login changes with every rotation, so map a derived secret whose template carries {user}');
  }
}

export const configSchema = z.object({
  defaults: z
    .object({
      rotationDays: tuning.rotationDays.default(90),
      validityDays: tuning.validityDays.default(120),
      expiryMarginDays: tuning.expiryMarginDays.default(14),
      graceMinutes: tuning.graceMinutes.default(15),
      password: tuning.password.default({ length: 32 }),
      confirmTimeoutMinutes: tuning.confirmTimeoutMinutes.default(15),
      minIntervalMinutes: tuning.minIntervalMinutes.default(60),
      pendingMaxAgeHours: z.number().min(1).max(720).default(6).describe('The janitor resumes or aborts a pending secret older than this'),
    })
    .default({ rotationDays: 90, validityDays: 120, expiryMarginDays: 14, graceMinutes: 15, password: { length: 32 }, confirmTimeoutMinutes: 15, minIntervalMinutes: 60, pendingMaxAgeHours: 6 }),
  github: z
    .object({ apiUrl: httpsUrl.default('https://api.github.com').describe('GitHub REST API base URL'), auth: githubAuth })
    .optional()
    .describe('How the service authenticates to GitHub; required when any credential has GitHub consumers'),
  arm: z
    .object({ endpoint: httpsUrl.default('https://management.azure.com').describe('Azure Resource Manager endpoint') })
    .default({ endpoint: 'https://management.azure.com' }),
  limits: z
    .object({
      keyVaultShare: z
        .number()
        .min(0.01)
        .max(1)
        .default(0.25)
        .describe("Share of each vault's throttling limit the rotator spends at most (Key Vault allows 4,000 transactions per 10 s per vault, a secret creation weighing 4,000 / 300); the rest is left to the applications reading the vault"),
      postgresSessionsPerServer: z
        .number()
        .int()
        .min(1)
        .max(50)
        .default(5)
        .describe('Most sessions the rotator holds at once on one PostgreSQL server (host and port); the smallest Azure SKU allows 35 user connections in all'),
    })
    .default({ keyVaultShare: 0.25, postgresSessionsPerServer: 5 }),
  credentials: z.array(credential).min(1, 'must list at least one credential'),
});

export type RawConfig = z.input<typeof configSchema>;
type ParsedConfig = z.output<typeof configSchema>;
type ParsedCredential = ParsedConfig['credentials'][number];

/** A credential with every default applied: what the rest of the code works with. */
export type Credential = Omit<ParsedCredential, keyof typeof tuning> & {
  rotationDays: number;
  validityDays: number;
  expiryMarginDays: number;
  graceMinutes: number;
  password: { length: number };
  confirmTimeoutMinutes: number;
  minIntervalMinutes: number;
};

export type GitHubSettings = NonNullable<ParsedConfig['github']>;

export interface RotationConfig {
  pendingMaxAgeHours: number;
  github?: GitHubSettings;
  arm: { endpoint: string };
  limits: { keyVaultShare: number; postgresSessionsPerServer: number };
  credentials: Credential[];
}
