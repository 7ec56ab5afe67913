/**
 * The one error type of the service. `code` is stable kebab-case, `stage` names where it
 * happened, `retryable` tells the orchestrator whether a durable retry can help. Messages
 * never carry a secret value: build them from names, versions and status codes only.
 */
export class RotationError extends Error {
  readonly code: string;
  readonly stage: string;
  readonly retryable: boolean;
  readonly status?: number;

  constructor(opts: { code: string; stage: string; message: string; retryable?: boolean; status?: number; cause?: unknown }) {
    super(`${opts.stage}: ${opts.message}`, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RotationError';
    this.code = opts.code;
    this.stage = opts.stage;
    this.retryable = opts.retryable ?? false;
    this.status = opts.status;
  }

  toJSON(): SerializedError {
    return { code: this.code, stage: this.stage, message: this.message, retryable: this.retryable, status: this.status };
  }
}

export interface SerializedError {
  code: string;
  stage: string;
  message: string;
  retryable: boolean;
  status?: number;
}

const TRANSIENT_NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND', 'UND_ERR_SOCKET', 'REQUEST_SEND_ERROR']);

/** Throttling, server errors and dropped connections can heal; everything else will not. */
export function isTransient(status: number | undefined, code: string | undefined): boolean {
  if (status !== undefined && (status === 408 || status === 429 || status >= 500)) return true;
  return code !== undefined && TRANSIENT_NETWORK_CODES.has(code);
}
