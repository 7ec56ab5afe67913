import type { Credential, RotationConfig } from '../config/schema';
import type { KeyVaultSecrets } from '../targets/key-vault';
import type { PostgresTarget } from '../targets/postgres';

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/** Everything a stage needs from the outside world; built once by the composition root, or by a test. */
export interface RotationDeps {
  config: RotationConfig;
  vault(url: string): KeyVaultSecrets;
  postgres(credential: Credential): PostgresTarget;
  now(): Date;
}
