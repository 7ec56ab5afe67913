import { registerApp } from './app';
import { productionDeps } from './production';

registerApp(productionDeps);
