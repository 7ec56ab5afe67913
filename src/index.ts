import { registerRotation } from './orchestrations/activities';
import { productionDeps } from './production';

registerRotation(productionDeps);
