import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { loopbackCertificate } from './tls';

/**
 * TLS in front of the embedded server, as a `hostssl`-only server would offer it: answers
 * the SSLRequest with 'S', completes the handshake with the loopback certificate, then
 * relays the decrypted stream to the plain port. A client that does not ask for TLS is
 * refused, so a test through it proves the rotator spoke TLS and verified the certificate.
 * Protocol: https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL
 */
export interface PostgresTlsFront {
  port: number;
  /** Trust anchor for clients: the loopback certificate. */
  ca: string;
  /** Connections that completed the TLS handshake. */
  readonly handshakes: number;
  stop(): Promise<void>;
}

const SSL_REQUEST_CODE = 80877103;

export async function startPostgresTlsFront(target: { host: string; port: number }): Promise<PostgresTlsFront> {
  const certificate = await loopbackCertificate();
  const sockets = new Set<Socket>();
  let handshakes = 0;
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.once('data', (first) => {
      if (first.length < 8 || first.readInt32BE(0) !== 8 || first.readInt32BE(4) !== SSL_REQUEST_CODE) return socket.destroy();
      socket.write('S');
      const secure = new TLSSocket(socket, { isServer: true, key: certificate.key, cert: certificate.cert });
      secure.on('error', () => socket.destroy());
      secure.once('secure', () => {
        handshakes += 1;
        const upstream = createConnection(target);
        sockets.add(upstream);
        upstream.on('close', () => sockets.delete(upstream));
        upstream.on('error', () => secure.destroy());
        secure.pipe(upstream).pipe(secure);
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    ca: certificate.ca,
    get handshakes() {
      return handshakes;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
