// PostgreSQL frontend/backend protocol v3 (https://www.postgresql.org/docs/current/protocol-message-formats.html):
// the StartupMessage (int32 length, int32 196608, then name\0value\0 pairs and a final \0)
// carries the user; ErrorResponse is 'E', int32 length, then fields (S/V severity, C SQLSTATE,
// M message) each \0-terminated, and a final \0; ReadyForQuery is 'Z', int32 5, status byte.
// After an error in the extended protocol the server discards messages until Sync, then sends
// ReadyForQuery (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-EXT-QUERY).
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * What the server does to the next matching connection:
 * - `reset`: the TCP connection is reset before any answer (a server restarting, a failover);
 * - `starting-up`: FATAL 57P03 "the database system is starting up", as PostgreSQL refuses
 *   connections while it starts or recovers;
 * - `login-refused`: FATAL 28P01 for the matched user, as a rotated or revoked admin password is refused;
 * - `statement-timeout`: the session's first statement is cancelled with ERROR 57014, as
 *   `statement_timeout` cancels it.
 */
export type PostgresFaultKind = 'reset' | 'starting-up' | 'login-refused' | 'statement-timeout';

export interface PostgresFault {
  kind: PostgresFaultKind;
  /** Only connections logging in as this user; every connection when absent. */
  user?: string;
  times: number;
}

/**
 * A TCP front for the embedded PostgreSQL that can refuse, reset or time out the rotator's
 * sessions on demand; everything else passes through byte for byte to the real server.
 */
export class PostgresFaultProxy {
  private readonly faults: PostgresFault[] = [];
  private readonly sockets = new Set<Socket>();
  private server?: Server;
  port = 0;
  /** Faults applied so far, by kind. */
  readonly applied: PostgresFaultKind[] = [];

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<this> {
    const server = createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  inject(fault: PostgresFault): void {
    this.faults.push({ ...fault });
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  private take(user: string): PostgresFault | undefined {
    const index = this.faults.findIndex((f) => f.times > 0 && (f.user === undefined || f.user === user));
    if (index < 0) return undefined;
    const fault = this.faults[index];
    fault.times -= 1;
    if (fault.times <= 0) this.faults.splice(index, 1);
    this.applied.push(fault.kind);
    return fault;
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private accept(client: Socket): void {
    this.track(client);
    let buffered = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4 || buffered.length < buffered.readInt32BE(0)) return;
      client.off('data', onData);
      client.pause();
      const fault = this.take(startupUser(buffered));
      if (fault?.kind === 'reset') return void client.resetAndDestroy();
      if (fault?.kind === 'starting-up') return void client.end(errorResponse('FATAL', '57P03', 'the database system is starting up'));
      if (fault?.kind === 'login-refused') return void client.end(errorResponse('FATAL', '28P01', `password authentication failed for user "${startupUser(buffered)}"`));
      this.pipe(client, buffered, fault?.kind === 'statement-timeout');
    };
    client.on('data', onData);
  }

  private pipe(client: Socket, startup: Buffer, timeoutFirstStatement: boolean): void {
    const server = createConnection({ host: this.target.host, port: this.target.port });
    this.track(server);
    server.on('close', () => client.destroy());
    client.on('close', () => server.destroy());
    server.write(startup);
    if (!timeoutFirstStatement) {
      client.pipe(server);
      server.pipe(client);
      client.resume();
      return;
    }
    // Pass the handshake through; once the server is ready, answer the first statement
    // with the cancellation the server would send, and only then hand the session over.
    let ready = false;
    server.on('data', (chunk: Buffer) => {
      client.write(chunk);
      if (!ready && containsReadyForQuery(chunk)) ready = true;
    });
    let pending = Buffer.alloc(0);
    let cancelled = false;
    client.on('data', (chunk: Buffer) => {
      if (!ready || cancelled) return void server.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (let at = 0; at + 5 <= pending.length; ) {
        const type = String.fromCharCode(pending[at]);
        const end = at + 1 + pending.readInt32BE(at + 1);
        if (end > pending.length) break;
        if (type === 'S' || type === 'Q') {
          cancelled = true;
          client.write(Buffer.concat([errorResponse('ERROR', '57014', 'canceling statement due to statement timeout'), readyForQuery()]));
          if (end < pending.length) server.write(pending.subarray(end));
          return;
        }
        at = end;
      }
    });
    client.resume();
  }
}

function startupUser(packet: Buffer): string {
  const fields = packet.subarray(8).toString('utf8').split('\0');
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'user') return fields[i + 1];
  return '';
}

function errorResponse(severity: 'ERROR' | 'FATAL', code: string, message: string): Buffer {
  const body = Buffer.from(`S${severity}\0V${severity}\0C${code}\0M${message}\0\0`, 'utf8');
  const header = Buffer.alloc(5);
  header.write('E', 0);
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function readyForQuery(): Buffer {
  return Buffer.from([0x5a, 0, 0, 0, 5, 0x49]);
}

/** The handshake ends with ReadyForQuery; a chunk boundary may split messages, so scan for the exact 6 bytes. */
function containsReadyForQuery(chunk: Buffer): boolean {
  return chunk.includes(Buffer.from([0x5a, 0, 0, 0, 5]));
}
