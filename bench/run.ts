import { coldStartBench } from './cold-start';
import { fleetBench } from './fleet';
import { rotationBench } from './rotation';
import { zeroDowntimeBench } from './zero-downtime';

const BENCHES: Record<string, (args: string[]) => Promise<void>> = {
  'cold-start': coldStartBench,
  fleet: fleetBench,
  rotation: rotationBench,
  'zero-downtime': zeroDowntimeBench,
};

async function main(): Promise<number> {
  const [name, ...args] = process.argv.slice(2);
  const bench = name ? BENCHES[name] : undefined;
  if (!bench) {
    console.error(`usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [options]`);
    return 2;
  }
  await bench(args);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
