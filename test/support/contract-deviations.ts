import type { ErrorObject } from 'ajv';
import type { Operation } from 'openapi-backend';

/**
 * Where the published description and the service's observed behaviour differ, the emulator
 * follows the service and the contract validator lets exactly this difference through. Each
 * entry names its source; test/contracts/README.md lists them.
 */
export interface Deviation {
  spec: string;
  operations: string[];
  description: string;
  source: string;
  /** Whether a schema error at this JSON path is the documented difference. */
  allows(path: string, error: ErrorObject): boolean;
}

/** A response status the operation does not list, answered with a schema of the same spec. */
export interface StatusDeviation {
  spec: string;
  /** Only these operations, when given; every operation of the spec otherwise. */
  operations?: string[];
  statuses: number[];
  schema: string;
  description: string;
  source: string;
}

const REVISION_OPERATIONS = ['ContainerAppsRevisions_ListRevisions', 'ContainerAppsRevisions_GetRevision'];

/** The running states ARM reports beyond the 2024-03-01 enum (Running, Processing, Stopped, Degraded, Failed, Unknown). */
const OBSERVED_RUNNING_STATES = ['Activating', 'ActivationFailed', 'RunningAtMaxScale', 'ScaledToZero'];

export const DEVIATIONS: Deviation[] = [
  {
    spec: 'container-apps-revisions.json',
    operations: REVISION_OPERATIONS,
    description: `revision properties.runningState takes any string: ${OBSERVED_RUNNING_STATES.join(', ')} are observed, and x-ms-enum RevisionRunningState is modelAsString, i.e. open`,
    source: 'https://learn.microsoft.com/azure/container-apps/revisions#running-status lists them; /work/shared/design/TESTBED.md "Revision states"',
    // modelAsString makes the enum open: a client must take any string, so the emulator may send one (the product waits on it).
    allows: (path, error) => error.keyword === 'enum' && /^\$(\.value\[\d+\])?\.properties\.runningState$/.test(path) && typeof error.data === 'string',
  },
];

/** A query parameter the spec does not declare, on requests the client builds from a server's nextLink. */
export interface QueryDeviation {
  spec: string;
  description: string;
  source: string;
  allows(operation: Operation, error: ErrorObject): boolean;
}

/** `x-ms-pageable` operations are continued at the opaque nextLink the service returned, with its `$skiptoken`. */
const skipTokenOnPageable = (operation: Operation, error: ErrorObject) =>
  'x-ms-pageable' in operation && error.keyword === 'additionalProperties' && (error.params as { additionalProperty?: string }).additionalProperty === '$skiptoken';

export const QUERY_DEVIATIONS: QueryDeviation[] = [
  {
    spec: 'key-vault-secrets.json',
    description: 'list operations are continued at the nextLink the vault returned, which carries $skiptoken (not declared as a parameter)',
    source: 'the nextLinks in the spec\'s own examples (GetSecrets-example.json, GetSecretVersions-example.json, GetDeletedSecrets-example.json)',
    allows: skipTokenOnPageable,
  },
  {
    spec: 'container-apps-revisions.json',
    description: 'ListRevisions is continued at the nextLink ARM returned, which carries $skiptoken (not declared as a parameter)',
    source: 'https://github.com/Azure/azure-resource-manager-rpc/blob/master/v1.0/resource-api-reference.md#get-resource (nextLink with $skipToken)',
    allows: skipTokenOnPageable,
  },
];

export const STATUS_DEVIATIONS: StatusDeviation[] = [
  {
    spec: 'github.json',
    statuses: [401, 403, 404, 429, 500, 502, 503],
    schema: 'basic-error',
    description: 'any operation may answer 401 (bad credentials), 403/429 (rate limits) or 5xx with a basic-error body, though the description lists only the statuses specific to each operation',
    source: 'https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api and https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api',
  },
  {
    spec: 'github.json',
    statuses: [400],
    schema: 'basic-error',
    description: 'any operation answers 400 to an X-GitHub-Api-Version GitHub does not serve',
    source: 'https://docs.github.com/en/rest/about-the-rest-api/api-versions',
  },
  {
    spec: 'github.json',
    statuses: [422],
    schema: 'validation-error',
    description: 'writes answer 422 "Validation failed" (bad secret name, stale key_id, malformed sealed box, missing visibility) though the secret PUT operations list only 201 and 204',
    source: 'https://docs.github.com/en/rest/using-the-rest-api/troubleshooting-the-rest-api and the validation-error schema of the same description',
  },
  {
    spec: 'github.json',
    operations: ['actions/list-selected-repos-for-org-secret'],
    statuses: [409],
    schema: 'basic-error',
    description: 'listing the repositories of an organisation secret whose visibility is not selected answers 409, as the add and remove operations document; the list operation is silent, and the emulator takes the stricter reading',
    source: 'https://docs.github.com/en/rest/actions/secrets#add-selected-repository-to-an-organization-secret ("Conflict when visibility type is not set to selected")',
  },
];

/** A request body the service takes in a form the spec's operation does not describe. */
export interface BodyDeviation {
  spec: string;
  operationId: string;
  contentType: RegExp;
  description: string;
  source: string;
  /** The body as the operation describes it. */
  adapt(body: unknown): unknown;
}

export const BODY_DEVIATIONS: BodyDeviation[] = [
  {
    spec: 'event-grid.json',
    operationId: 'PublishCloudEventEvents',
    contentType: /^application\/cloudevents\+json\b/i,
    description: 'a single CloudEvent in structured mode (application/cloudevents+json) is published like a batch of one',
    source: 'https://learn.microsoft.com/azure/event-grid/cloud-event-schema (structured content mode, single events)',
    adapt: (body) => [body],
  },
];

/** A path parameter that, when empty, the client leaves out together with its slash. */
export interface PathDeviation {
  spec: string;
  parameter: string;
  description: string;
  source: string;
}

export const PATH_DEVIATIONS: PathDeviation[] = [
  {
    spec: 'authorization-permissions.json',
    parameter: 'parentResourcePath',
    description: 'Permissions_ListForResource of a top-level resource: @azure/arm-authorization sends `{namespace}/{type}/{name}`, without the empty parent path and its slash, and ARM answers it',
    source: '@azure/arm-authorization 9 (the URL it builds for permissions.listForResource with parentResourcePath "")',
  },
];
