// Sources: Key Vault REST error codes and bodies (https://learn.microsoft.com/azure/key-vault/general/rest-error-codes),
// access-policy and RBAC refusals (https://learn.microsoft.com/azure/key-vault/general/rbac-guide),
// soft-delete conflicts (https://learn.microsoft.com/azure/key-vault/general/soft-delete-overview).
/**
 * Key Vault's error responses: status, code, message (and inner code) as the service sends
 * them, so callers' error handling meets the real shapes.
 */
export class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly innerCode?: string,
  ) {
    super(message);
    this.name = 'VaultError';
  }

  toBody(): { error: { code: string; message: string; innererror?: { code: string } } } {
    const error: { code: string; message: string; innererror?: { code: string } } = { code: this.code, message: this.message };
    if (this.innerCode !== undefined) error.innererror = { code: this.innerCode };
    return { error };
  }
}

const NOT_FOUND_HELP = 'If you recently deleted this secret you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

export const vaultErrors = {
  secretNotFound: (nameOrId: string) =>
    new VaultError(404, 'SecretNotFound', `A secret with (name/id) ${nameOrId} was not found in this key vault. ${NOT_FOUND_HELP}`),
  deletedSecretNotFound: (name: string) => new VaultError(404, 'SecretNotFound', `Deleted Secret not found: ${name}`),
  disabled: () => new VaultError(403, 'Forbidden', 'Operation get is not allowed on a disabled secret.', 'SecretDisabled'),
  deletedButRecoverable: (name: string) =>
    new VaultError(
      409,
      'Conflict',
      `Secret ${name} is currently in a deleted but recoverable state, and its name cannot be reused; in this state, the secret can only be recovered or purged.`,
      'ObjectIsDeletedButRecoverable',
    ),
  beingDeleted: (name: string) => new VaultError(409, 'Conflict', `Secret ${name} is currently being deleted.`, 'ObjectIsBeingDeleted'),
  beingRecovered: (name: string) => new VaultError(409, 'Conflict', `Secret ${name} is currently being recovered.`, 'ObjectIsBeingRecovered'),
  purgeProtected: (vault: string, location: string) =>
    new VaultError(
      403,
      'Forbidden',
      `Operation "purge" is not allowed because purge protection is enabled for this vault. Key Vault service will automatically purge it after the retention period has passed.\r\nVault: ${vault};location=${location}`,
    ),
  badParameter: (message: string) => new VaultError(400, 'BadParameter', message),
  invalidName: (name: string) => new VaultError(400, 'BadParameter', `The request URI contains an invalid name: ${name}`),
  unknownApiVersion: (given: string, latest: string) =>
    new VaultError(400, 'BadParameter', `The specified version (${given}) is not recognized. Consider using the latest supported version (${latest}).`),
  missingToken: () => new VaultError(401, 'Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'),
  unknownToken: () => new VaultError(401, 'Unauthorized', 'AKV10046: Unable to resolve the key used for signature validation.'),
  accessDenied: (caller: string, permission: string, vault: string, location: string) =>
    new VaultError(
      403,
      'Forbidden',
      `The user, group or application '${caller}' does not have secrets ${permission} permission on key vault '${vault};location=${location}'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287`,
      'AccessDenied',
    ),
  methodNotAllowed: (method: string) => new VaultError(405, 'MethodNotAllowed', `The requested resource does not support http method '${method}'.`),
  pathNotFound: (path: string) => new VaultError(404, 'NotFound', `The requested URI does not represent any resource on the server: ${path}`),
  // The body the service sends past its throttling limits (see key-vault-throttle.ts).
  throttled: () => new VaultError(429, 'Throttled', 'Request was not processed because too many requests were received. Reason: VaultRequestTypeLimitReached'),
  notImplemented: (operation: string) => new VaultError(501, 'NotImplemented', `The local Key Vault emulator does not implement ${operation}.`),
};

/** Bodies for injected faults, shaped like the service's own answers for those statuses. */
export function faultBodyFor(status: number, message?: string): unknown {
  const known: Record<number, [string, string]> = {
    400: ['BadParameter', 'The request is invalid.'],
    401: ['Unauthorized', 'AKV10000: Request is missing a Bearer or PoP token.'],
    403: ['Forbidden', 'Access denied.'],
    404: ['NotFound', 'The requested resource was not found.'],
    409: ['Conflict', 'There was a conflict while processing the request.'],
    429: ['Throttled', 'Request was not processed because too many requests were received. Reason: A best effort throttling was applied. Please retry after some time.'],
    500: ['InternalServerError', 'The service encountered an internal error. Please retry the request.'],
    502: ['BadGateway', 'The gateway received an invalid response.'],
    503: ['ServiceUnavailable', 'The service is currently unavailable. Please retry the request.'],
    504: ['GatewayTimeout', 'The operation timed out. Please retry the request.'],
  };
  const [code, text] = known[status] ?? [String(status), `Request failed with status ${status}.`];
  return { error: { code, message: message ?? text } };
}
