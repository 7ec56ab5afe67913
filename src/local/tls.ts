import { generate } from 'selfsigned';

export interface LoopbackCertificate {
  key: string;
  cert: string;
  /** The certificate itself is the trust anchor: hand it to clients as `ca`. */
  ca: string;
}

let cached: Promise<LoopbackCertificate> | undefined;

/** One self-signed certificate per process, valid for 127.0.0.1 and localhost only. */
export function loopbackCertificate(): Promise<LoopbackCertificate> {
  cached ??= generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    notAfterDate: new Date(Date.now() + 7 * 24 * 3600 * 1000),
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  }).then((pems) => ({ key: pems.private, cert: pems.cert, ca: pems.cert }));
  return cached;
}
