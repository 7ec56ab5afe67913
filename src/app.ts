import { registerDashboard } from './functions/dashboard';
import { registerDriftCheck } from './functions/drift-check';
import { registerHealthApi } from './functions/health-api';
import { registerKeyVaultEvents } from './functions/key-vault-events';
import { registerRotationApi } from './functions/rotation-api';
import { registerScheduledRotation } from './functions/scheduled-rotation';
import { registerRotation } from './orchestrations/activities';
import type { RotationDeps } from './rotation/deps';

/** Registers every function of the app. Azure runs it with production dependencies, the sandbox and tests with local ones. */
export function registerApp(getDeps: () => RotationDeps): void {
  registerRotation(getDeps);
  registerKeyVaultEvents(getDeps);
  registerScheduledRotation(getDeps);
  registerRotationApi(getDeps);
  registerDashboard(getDeps);
  registerDriftCheck(getDeps);
  registerHealthApi(getDeps);
}
