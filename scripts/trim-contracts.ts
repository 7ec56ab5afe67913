import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';

/**
 * Cuts the published API descriptions down to the operations the emulators serve and writes
 * them to test/contracts/. Every schema, parameter and response an operation references is
 * copied whole (references into other files, such as Azure's common-types, become local
 * ones); only operations, examples and unreferenced definitions are dropped. Nothing here
 * edits a schema.
 *
 *   npm run contracts -- --azure-specs <git dir of Azure/azure-rest-api-specs> \
 *     --github-description <api.github.com.json of github/rest-api-description>
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface Origin {
  repository: string;
  /** The repository commit the file was read at; for an npm-packaged copy, its package version. */
  commit: string;
  path: string;
  licence: string;
  /** Reads a file of the same repository, by path from its root. */
  read(path: string): string;
}

interface Contract {
  file: string;
  origin: Origin;
  /** `METHOD path` keys of `paths`, or `METHOD ?overload=…` keys of Azure's `x-ms-paths`. */
  operations: string[];
}

/** The Azure REST API specs commit read; see test/contracts/README.md for why this one. */
const AZURE_COMMIT = 'a977c730fda43ab19c05373b32c7159d6f265e9a';
/** The @octokit/openapi release whose copy of GitHub's description was read. */
const GITHUB_DESCRIPTION = '@octokit/openapi@23.0.2 generated/api.github.com.json';

const APP = '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.App/containerApps/{containerAppName}';
const PERMISSIONS = '/subscriptions/{subscriptionId}/resourcegroups/{resourceGroupName}/providers';
const SECRETS = ['secrets/public-key', 'secrets/{secret_name}'];

function contracts(azureGitDir: string, githubDescription: string): Contract[] {
  const azure = (path: string): Origin => ({
    repository: 'https://github.com/Azure/azure-rest-api-specs',
    commit: AZURE_COMMIT,
    path,
    licence: 'MIT (LICENSE at the repository root)',
    read: (p) => execFileSync('git', ['--git-dir', azureGitDir, 'show', `${AZURE_COMMIT}:${p}`], { encoding: 'utf8', maxBuffer: 64 << 20 }),
  });
  const github: Origin = {
    repository: 'https://github.com/github/rest-api-description',
    commit: GITHUB_DESCRIPTION,
    path: 'descriptions/api.github.com/api.github.com.json',
    licence: 'MIT (LICENSE.md at the repository root)',
    read: () => readFileSync(githubDescription, 'utf8'),
  };
  return [
    {
      file: 'key-vault-secrets.json',
      origin: azure('specification/keyvault/data-plane/Microsoft.KeyVault/stable/7.5/secrets.json'),
      operations: [
        'PUT /secrets/{secret-name}',
        'DELETE /secrets/{secret-name}',
        'PATCH /secrets/{secret-name}/{secret-version}',
        'GET /secrets/{secret-name}/{secret-version}',
        'GET /secrets',
        'GET /secrets/{secret-name}/versions',
        'GET /deletedsecrets',
        'GET /deletedsecrets/{secret-name}',
        'DELETE /deletedsecrets/{secret-name}',
        'POST /deletedsecrets/{secret-name}/recover',
        'POST /secrets/{secret-name}/backup',
        'POST /secrets/restore',
      ],
    },
    {
      file: 'container-apps.json',
      origin: azure('specification/app/resource-manager/Microsoft.App/stable/2024-03-01/ContainerApps.json'),
      operations: [`GET ${APP}`, `PUT ${APP}`, `PATCH ${APP}`, `POST ${APP}/listSecrets`],
    },
    {
      file: 'container-apps-revisions.json',
      origin: azure('specification/app/resource-manager/Microsoft.App/stable/2024-03-01/ContainerAppsRevisions.json'),
      operations: [`GET ${APP}/revisions`, `GET ${APP}/revisions/{revisionName}`, `POST ${APP}/revisions/{revisionName}/restart`, `GET ${APP}/revisions/{revisionName}/replicas`],
    },
    {
      file: 'authorization-permissions.json',
      origin: azure('specification/authorization/resource-manager/Microsoft.Authorization/stable/2022-04-01/authorization-RoleDefinitionsCalls.json'),
      operations: [
        `GET ${PERMISSIONS}/Microsoft.Authorization/permissions`,
        `GET ${PERMISSIONS}/{resourceProviderNamespace}/{parentResourcePath}/{resourceType}/{resourceName}/providers/Microsoft.Authorization/permissions`,
      ],
    },
    {
      file: 'event-grid.json',
      origin: azure('specification/eventgrid/data-plane/Microsoft.EventGrid/stable/2018-01-01/EventGrid.json'),
      operations: ['POST ?overload=EventGridEvent', 'POST ?overload=cloudEvent', 'POST ?overload=customEvent'],
    },
    {
      file: 'github.json',
      origin: github,
      operations: [
        ...['/repos/{owner}/{repo}/actions', '/repos/{owner}/{repo}/environments/{environment_name}', '/orgs/{org}/actions'].flatMap((scope) => [
          `GET ${scope}/${SECRETS[0]}`,
          `GET ${scope}/${SECRETS[1]}`,
          `PUT ${scope}/${SECRETS[1]}`,
          `DELETE ${scope}/${SECRETS[1]}`,
        ]),
        'GET /orgs/{org}/actions/secrets/{secret_name}/repositories',
        'PUT /orgs/{org}/actions/secrets/{secret_name}/repositories',
        'PUT /orgs/{org}/actions/secrets/{secret_name}/repositories/{repository_id}',
        'DELETE /orgs/{org}/actions/secrets/{secret_name}/repositories/{repository_id}',
        'POST /app/installations/{installation_id}/access_tokens',
      ],
    },
  ];
}

/** Top-level sections whose entries are named and referenced by `#/<section…>/<name>`. */
const SECTIONS = [['definitions'], ['parameters'], ['responses'], ['components', 'schemas'], ['components', 'parameters'], ['components', 'responses'], ['components', 'headers'], ['components', 'requestBodies'], ['components', 'securitySchemes']];

export function trim(contract: Contract): JsonObject {
  const root = parse(contract.origin.read(contract.origin.path));
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(root)) {
    if (!['paths', 'x-ms-paths', 'webhooks', 'x-webhooks', 'definitions', 'parameters', 'responses', 'components', 'tags'].includes(key)) out[key] = value;
  }
  out['x-vendored-from'] = { repository: contract.origin.repository, path: contract.origin.path, commit: contract.origin.commit, licence: contract.origin.licence };
  const pathsKey = contract.operations.some((o) => o.includes('?overload=')) ? 'x-ms-paths' : 'paths';
  if (pathsKey === 'x-ms-paths') out.paths = {};
  const paths: JsonObject = {};
  out[pathsKey] = paths;
  const copier = new RefCopier(contract.origin, out);
  const sourcePaths = root[pathsKey] as JsonObject;
  for (const operation of contract.operations) {
    const [method, path] = [operation.slice(0, operation.indexOf(' ')).toLowerCase(), operation.slice(operation.indexOf(' ') + 1)];
    const item = sourcePaths[path] as JsonObject | undefined;
    const chosen = item?.[method];
    if (!item || !chosen) throw new Error(`${contract.origin.path} has no operation ${operation}`);
    const target = (paths[path] ??= {}) as JsonObject;
    if (item.parameters && !target.parameters) target.parameters = copier.copy(item.parameters, contract.origin.path);
    target[method] = copier.copy(withoutExamples(chosen), contract.origin.path);
  }
  if (out['x-ms-parameterized-host']) out['x-ms-parameterized-host'] = copier.copy(out['x-ms-parameterized-host'], contract.origin.path);
  return out;
}

/** Copies the entries an operation references, following references into other files. */
class RefCopier {
  /** `file#pointer` of each copied entry → its local pointer. */
  private readonly copied = new Map<string, string>();

  constructor(private readonly origin: Origin, private readonly out: JsonObject) {}

  copy(node: Json, file: string): Json {
    if (Array.isArray(node)) return node.map((n) => this.copy(n, file));
    if (node === null || typeof node !== 'object') return node;
    const result: JsonObject = {};
    for (const [key, value] of Object.entries(node)) {
      result[key] = key === '$ref' && typeof value === 'string' ? this.localRef(value, file) : this.copy(value, file);
    }
    return result;
  }

  private localRef(ref: string, file: string): string {
    const [target, pointer = ''] = ref.split('#');
    const targetFile = target ? posix.normalize(posix.join(posix.dirname(file), target)) : file;
    const segments = pointer.split('/').slice(1);
    const section = SECTIONS.find((s) => s.every((part, i) => segments[i] === part));
    if (!section) throw new Error(`${file}: cannot vendor the reference ${ref}`);
    const name = decodePointer(segments[section.length]);
    const rest = segments.slice(section.length + 1);
    const key = `${targetFile}#${[...section, name].join('/')}`;
    let local = this.copied.get(key);
    if (local === undefined) {
      const localName = this.freeName(section, name, targetFile);
      local = `#/${[...section, encodePointer(localName)].join('/')}`;
      this.copied.set(key, local);
      const entries = sectionOf(this.out, section);
      entries[localName] = {};
      const source = sectionOf(parse(this.origin.read(targetFile)), section)[name];
      if (source === undefined) throw new Error(`${targetFile} has no ${section.join('/')}/${name}`);
      const documentation = section.includes('responses') || section.includes('requestBodies');
      entries[localName] = this.copy(documentation ? mediaWithoutExamples(source) : source, targetFile);
    }
    return rest.length ? `${local}/${rest.join('/')}` : local;
  }

  /** The entry's own name unless another file's entry already has it in this document. */
  private freeName(section: string[], name: string, file: string): string {
    const taken = sectionOf(this.out, section);
    if (!(name in taken)) return name;
    const stem = posix.basename(file, '.json');
    return `${posix.basename(posix.dirname(file))}.${stem}.${name}`;
  }
}

const parsed = new Map<string, JsonObject>();
function parse(text: string): JsonObject {
  let doc = parsed.get(text);
  if (!doc) {
    doc = JSON.parse(text) as JsonObject;
    parsed.set(text, doc);
  }
  return doc;
}

function sectionOf(doc: JsonObject, section: string[]): JsonObject {
  let node = doc;
  for (const part of section) node = (node[part] ??= {}) as JsonObject;
  return node;
}

/** Examples are documentation and point at files not vendored; schemas stay untouched. */
function withoutExamples(operation: Json): Json {
  if (!isObject(operation)) return operation;
  const { 'x-ms-examples': _examples, ...rest } = operation;
  if (isObject(rest.requestBody)) rest.requestBody = mediaWithoutExamples(rest.requestBody);
  if (isObject(rest.responses)) rest.responses = Object.fromEntries(Object.entries(rest.responses).map(([status, r]) => [status, mediaWithoutExamples(r)]));
  return rest;
}

/** A response or request body whose media types lose their `examples`. */
function mediaWithoutExamples(body: Json): Json {
  if (!isObject(body) || !isObject(body.content)) return body;
  const content = Object.fromEntries(Object.entries(body.content).map(([type, media]) => {
    if (!isObject(media)) return [type, media];
    const { examples: _examples, ...kept } = media;
    return [type, kept];
  }));
  return { ...body, content };
}

function isObject(node: Json | undefined): node is JsonObject {
  return node !== null && typeof node === 'object' && !Array.isArray(node);
}

function decodePointer(segment: string): string {
  return segment.replace(/~1/g, '/').replace(/~0/g, '~');
}

function encodePointer(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

function argument(name: string): string {
  const index = process.argv.indexOf(name);
  const value = index < 0 ? undefined : process.argv[index + 1];
  if (!value) throw new Error(`usage: trim-contracts --azure-specs <git dir> --github-description <api.github.com.json>; ${name} is missing`);
  return value;
}

if (require.main === module) {
  // Azure's descriptions are read from a fetched snapshot, which developers may not commit:
  // they go to the steering repository's shared/contracts/ (or --azure-out). GitHub's come
  // from an npm package and are vendored in test/contracts/.
  const github = join(__dirname, '..', 'test', 'contracts');
  const azureOut = process.argv.includes('--azure-out') ? argument('--azure-out') : join(__dirname, '..', '..', 'shared', 'contracts');
  for (const contract of contracts(argument('--azure-specs'), argument('--github-description'))) {
    const path = join(contract.file === 'github.json' ? github : azureOut, contract.file);
    writeFileSync(path, `${JSON.stringify(trim(contract), null, 2)}\n`);
    console.log(`${path}: ${contract.operations.length} operations from ${contract.origin.path}`);
  }
}
