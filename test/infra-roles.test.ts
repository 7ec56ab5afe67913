import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { bicepFiles, INFRA, matchingBrace } from './support/bicep';
import { CONTAINER_APPS_ACTIONS } from '../src/targets/arm-actions';
import { KEY_VAULT_DATA_ACTIONS, KEY_VAULT_SECRET_PERMISSIONS } from '../src/targets/key-vault-actions';


/**
 * The built-in roles the deployment assigns, as the Azure documentation lists them
 * (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles: name, ID).
 */
const DOCUMENTED_BUILT_IN_ROLES: Record<string, string> = {
  'EventGrid Data Sender': 'd5a91429-5739-47e2-a06b-3470a27159e7',
  'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
  'Monitoring Metrics Publisher': '3913510d-42f4-4e42-8a64-420c390055eb',
  'Storage Blob Data Contributor': 'ba92f5b4-2d11-453d-a403-e96b0029c9fe',
  'Storage Blob Data Owner': 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b',
  'Storage Queue Data Contributor': '974c5e8b-45b9-4653-ba55-5f855dd0fb88',
  'Storage Table Data Contributor': '0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3',
};

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi;

describe('infrastructure role definitions and assignments', () => {
  it('when a built-in role is named in the Bicep, then its id is the documented one', () => {
    expect(builtInRoles()).toEqual(DOCUMENTED_BUILT_IN_ROLES);
  });

  it('when a role id appears in the Bicep, then it comes from the one table of documented roles', () => {
    const stray = bicepFiles()
      .filter((file) => basename(file) !== 'roles.bicep')
      .flatMap((file) => [...read(file).matchAll(GUID)].map((m) => `${relative(INFRA, file)}: ${m[0]}`));
    expect(stray).toEqual([]);
  });

  it('when a role is listed in the table, then something assigns it, and every role assigned is listed', () => {
    const used = new Set(bicepFiles().flatMap((file) => [...read(file).matchAll(/builtInRoles\['([^']+)'\]/g)].map((m) => m[1])));
    expect([...used].sort()).toEqual(Object.keys(DOCUMENTED_BUILT_IN_ROLES).sort());
  });

  it('when the Container Apps role is defined, then it allows exactly the actions the Container Apps adapter performs', () => {
    const text = read(join(INFRA, 'app', 'container-apps-role.bicep'));
    expect(stringList(text, 'var containerAppsActions =')).toEqual([...CONTAINER_APPS_ACTIONS]);
    expect(text).toMatch(/actions:\s*containerAppsActions\s*\n/);
    for (const other of ['notActions', 'dataActions', 'notDataActions']) expect(text).toMatch(new RegExp(`${other}: \\[\\]`));
    expect(text).not.toContain('*');
  });

  it('when the Container Apps role is defined, then it is assignable only on the resource groups named by parameters', () => {
    const role = read(join(INFRA, 'app', 'container-apps-role.bicep'));
    expect(role).toMatch(/assignableScopes:\s*assignableScopes\s*\n/);
    const main = read(join(INFRA, 'main.bicep'));
    expect(main).toMatch(/for group in containerAppsResourceGroups: '\/subscriptions\/\$\{[^}]+\}\/resourceGroups\/\$\{group\.name\}'/);
    expect(main).toMatch(/assignableScopes:\s*containerAppsScopes\s*\n/);
  });

  it('when a file targets the subscription, then it defines a custom role and assigns nothing', () => {
    const wide = bicepFiles().filter((file) => /^targetScope\s*=\s*'(subscription|managementGroup|tenant)'/m.test(read(file)));
    expect(wide.map((file) => relative(INFRA, file))).toEqual(['app/container-apps-role.bicep', 'app/key-vault-role.bicep']);
    for (const file of wide) expect(resourceTypes(read(file))).toEqual(['Microsoft.Authorization/roleDefinitions']);
    const modulesAtSubscription = modules(read(join(INFRA, 'main.bicep')))
      .filter((m) => /^\s*scope: subscription\(\)\s*$/m.test(m.body))
      .map((m) => m.path);
    expect(modulesAtSubscription.sort()).toEqual(['app/container-apps-role.bicep', 'app/key-vault-role.bicep']);
  });

  it('when the Key Vault role is defined, then it allows exactly the secret data actions the Key Vault adapter uses, which the emulator enforces in every test: no purge, backup or restore', () => {
    const text = read(join(INFRA, 'app', 'key-vault-role.bicep'));
    expect(stringList(text, 'var secretRotationDataActions =')).toEqual([...KEY_VAULT_DATA_ACTIONS]);
    expect(text).toMatch(/dataActions:\s*secretRotationDataActions\s*\n/);
    for (const other of ['actions', 'notActions', 'notDataActions']) expect(text).toMatch(new RegExp(`\\b${other}: \\[\\]`));
    expect(text).not.toContain('*');
    expect(KEY_VAULT_DATA_ACTIONS.filter((a) => /purge|backup|restore|keys|certificates/i.test(a))).toEqual([]);
    expect(KEY_VAULT_SECRET_PERMISSIONS).toEqual(['get', 'list', 'set', 'delete', 'recover']);
    expect(read(join(INFRA, '..', 'src', 'local', 'environment.ts'))).toContain('vault.grant(serviceToken, KEY_VAULT_SECRET_PERMISSIONS);');
  });

  it('when the Key Vault role is defined, then it is assignable only on the vaults holding rotated secrets', () => {
    expect(read(join(INFRA, 'app', 'key-vault-role.bicep'))).toMatch(/assignableScopes:\s*assignableScopes\s*\n/);
    const main = read(join(INFRA, 'main.bicep'));
    expect(main).toMatch(/for vault in filter\(keyVaults, v => \(v\.\?access \?\? 'rotate'\) == 'rotate'\): '\/subscriptions\/\$\{[^}]+\}\/resourceGroups\/\$\{[^}]+\}\/providers\/Microsoft\.KeyVault\/vaults\/\$\{vault\.name\}'/);
    expect(main).toMatch(/assignableScopes:\s*rotatedVaultScopes\s*\n/);
  });

  it('when a role is assigned, then it is named guid(scope, principal, role) on the resource it concerns, and only the Container Apps role covers a resource group', () => {
    const assignments = bicepFiles().flatMap((file) => roleAssignments(file));
    expect(assignments.map((a) => `${a.file} ${a.symbol}`)).toEqual([
      'app/container-apps-access.bicep restartAccess',
      'app/key-vault.bicep secretsAccess',
      'app/rbac.bicep hostStorageAccess',
      'app/rbac.bicep telemetryAccess',
      'app/rbac.bicep eventsAccess',
      'app/rbac.bicep deadLetterAccess',
    ]);
    for (const a of assignments) {
      const where = `${a.file} ${a.symbol}`;
      expect(a.name, where).toMatch(/^guid\(/);
      const [scopeArg, principalArg, roleArg] = splitArgs(a.name.slice('guid('.length, -1));
      expect(scopeArg, where).toBe(a.scope ? `${a.scope}.id` : 'resourceGroup().id');
      expect(a.principalId, where).toBe(principalArg);
      expect(a.roleDefinitionId.includes(roleArg), where).toBe(true);
      expect(a.principalType, where).toBe(`'ServicePrincipal'`);
    }
    const resourceGroupWide = assignments.filter((a) => !a.scope).map((a) => a.file);
    expect(resourceGroupWide).toEqual(['app/container-apps-access.bicep']);
    expect(assignments.every((a) => a.scope !== 'subscription()' && a.scope !== 'resourceGroup()')).toBe(true);
  });

  it('when the rotator identity touches Key Vault, then it holds one secrets role on each named vault only: the custom role where it rotates, Secrets User where it reads', () => {
    const text = read(join(INFRA, 'app', 'key-vault.bicep'));
    const [secrets] = roleAssignments(join(INFRA, 'app', 'key-vault.bicep'));
    expect(secrets.scope).toBe('vault');
    expect(secrets.roleDefinitionId).toBe('secretsRoleId');
    expect(text).toContain(`var secretsRoleId = rotatesSecrets ? secretRotatorRoleId : subscriptionResourceId('Microsoft.Authorization/roleDefinitions', builtInRoles['Key Vault Secrets User'])`);
    expect(text).toMatch(/resource vault 'Microsoft\.KeyVault\/vaults@[\d-]+' existing = \{\s*name: keyVaultName/);
    const main = read(join(INFRA, 'main.bicep'));
    expect(main).toMatch(/module keyVaultAccess 'app\/key-vault\.bicep' = \[\s*for \(vault, i\) in keyVaults:/);
    expect(main).toContain('secretRotatorRoleId: createKeyVaultRole ? keyVaultRole!.outputs.roleDefinitionId : keyVaultRoleDefinitionId');
  });
});

interface RoleAssignment {
  file: string;
  symbol: string;
  name: string;
  scope?: string;
  principalId: string;
  principalType: string;
  roleDefinitionId: string;
}

function roleAssignments(file: string): RoleAssignment[] {
  const text = read(file);
  return [...text.matchAll(/resource (\w+) 'Microsoft\.Authorization\/roleAssignments@[^']+' = /g)].map((m) => {
    const open = text.indexOf('{', m.index);
    const body = text.slice(open, matchingBrace(text, open) + 1);
    const property = (key: string) => new RegExp(`^\\s*${key}: (.+)$`, 'm').exec(body)?.[1].trim();
    return {
      file: relative(INFRA, file),
      symbol: m[1],
      name: property('name') ?? '',
      scope: property('scope'),
      principalId: property('principalId') ?? '',
      principalType: property('principalType') ?? '',
      roleDefinitionId: property('roleDefinitionId') ?? '',
    };
  });
}

/** The `builtInRoles` table of infra/app/roles.bicep, as name → id. */
function builtInRoles(): Record<string, string> {
  const text = read(join(INFRA, 'app', 'roles.bicep'));
  expect(text).toMatch(/@export\(\)\s*\nvar builtInRoles = \{/);
  const open = text.indexOf('{', text.indexOf('var builtInRoles'));
  const body = text.slice(open + 1, matchingBrace(text, open));
  const entries = body
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('//'))
    .map((line) => {
      const entry = /^'([^']+)': '([^']+)'$/.exec(line);
      if (!entry) throw new Error(`cannot read the role line: ${line}`);
      return [entry[1], entry[2]] as const;
    });
  return Object.fromEntries(entries);
}

function modules(text: string): { path: string; body: string }[] {
  return [...text.matchAll(/^module \w+ '([^']+)' = /gm)].map((m) => {
    const open = text.indexOf('{', m.index);
    return { path: m[1], body: text.slice(open, matchingBrace(text, open) + 1) };
  });
}

function stringList(text: string, declaration: string): string[] {
  const open = text.indexOf('[', text.indexOf(declaration));
  const close = text.indexOf(']', open);
  return [...text.slice(open, close).matchAll(/'([^']+)'/g)].map((m) => m[1]);
}

function resourceTypes(text: string): string[] {
  return [...text.matchAll(/^resource \w+ '([^@']+)@/gm)].map((m) => m[1]);
}

/** Top-level comma-separated arguments of a call's argument text. */
function splitArgs(args: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let current = '';
  for (const c of args) {
    if (c === ',' && depth === 0) {
      out.push(current.trim());
      current = '';
      continue;
    }
    if ('([{'.includes(c)) depth += 1;
    if (')]}'.includes(c)) depth -= 1;
    current += c;
  }
  out.push(current.trim());
  return out;
}



function read(file: string): string {
  return readFileSync(file, 'utf8');
}

