import { Agent } from 'node:https';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import type { PipelinePolicy } from '@azure/core-rest-pipeline';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';

/**
 * Options for any Azure SDK client that must reach an emulator on 127.0.0.1: trust the
 * loopback certificate on this client only (never process-wide) and retry quickly.
 */
export function loopbackAzureOptions(ca: string, retry = { maxRetries: 3, retryDelayInMs: 20, maxRetryDelayInMs: 200 }) {
  const agent = new Agent({ ca, keepAlive: true });
  const trustLoopback: PipelinePolicy = {
    name: 'trustLoopbackCertificate',
    sendRequest(request, next) {
      request.agent = agent;
      return next(request);
    },
  };
  return {
    additionalPolicies: [{ policy: trustLoopback, position: 'perCall' as const }],
    retryOptions: retry,
  };
}

/** A `fetch` for fetch-based clients (Octokit) that trusts the loopback certificate. */
export function loopbackFetch(ca: string): typeof fetch {
  const dispatcher = new UndiciAgent({ connect: { ca } });
  return ((input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) =>
    undiciFetch(input as never, { ...(init as object), dispatcher } as never)) as unknown as typeof fetch;
}

/** A credential that hands out one fixed bearer token; emulators accept or refuse it by value. */
export class StaticTokenCredential implements TokenCredential {
  constructor(private readonly token: string, private readonly lifetimeMs = 3600_000) {}

  async getToken(): Promise<AccessToken> {
    return { token: this.token, expiresOnTimestamp: Date.now() + this.lifetimeMs };
  }
}
