import { registerRotation } from './orchestrations/activities';
import type { RotationDeps } from './rotation/deps';

/** Registers every function of the app. Azure runs it with production dependencies, the sandbox and tests with local ones. */
export function registerApp(getDeps: () => RotationDeps): void {
  registerRotation(getDeps);
}
