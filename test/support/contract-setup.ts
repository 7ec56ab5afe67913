import { afterEach, expect } from 'vitest';
import { observeExchanges } from '../../src/local/emulators/loopback-emulator';
import { contracts } from './contract-validator';

// Every emulator exchange in every test is held to the vendored API descriptions; a test
// whose requests or responses broke them fails here, with the operation and JSON path.
observeExchanges({ started: (emulator) => contracts.prepare(emulator.contract), exchange: (exchange) => contracts.check(exchange) });

afterEach(() => {
  expect(contracts.take(), 'emulator exchanges that break the published API descriptions (test/contracts/)').toEqual([]);
});
