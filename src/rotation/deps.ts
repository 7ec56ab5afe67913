import type { Credential, RotationConfig } from '../config/schema';
import type { ArmPermissions } from '../targets/arm-permissions';
import type { ContainerApps } from '../targets/container-apps';
import type { LifecycleEvents } from '../targets/event-grid';
import type { GitHubSecrets } from '../targets/github';
import type { KeyVaultSecrets } from '../targets/key-vault';
import type { PostgresTarget } from '../targets/postgres';
import type { PostgresInspector } from '../targets/postgres-inspect';

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
  /** GitHub Actions secrets; throws a configuration error when the config has no github section. */
  github(): GitHubSecrets;
  containerApps(): ContainerApps;
  /** The caller's effective ARM permissions at a resource (preflight). */
  armPermissions(): ArmPermissions;
  /** Read-only catalog queries as the rotator's login (drift check, preflight). */
  inspectPostgres(credential: Credential): PostgresInspector;
  /** The lifecycle topic; absent when publishing is turned off. */
  events?: LifecycleEvents;
  /** App role an HTTP caller's App Service principal must hold; absent turns the check off. */
  requiredAppRole?: string;
}
