import { app } from '@azure/functions';
import { registerApp } from './app';
import { productionDeps } from './production';

registerApp(productionDeps);

// A broken configuration stops the app at start-up with the field named, not at the first rotation.
app.hook.appStart(() => {
  productionDeps();
});
