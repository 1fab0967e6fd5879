// Listen addresses as HOST:PORT (IPv6 in brackets), shared by the S3 server and the KMS listener.
import { isIP } from 'node:net';

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses HOST:PORT (IPv6 as [::1]:PORT). */
export function parseAddress(value: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(value) ?? /^([^:]*):(\d+)$/.exec(value);
  if (!m) throw new Error(`invalid address '${value}', expected HOST:PORT`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`invalid port in '${value}'`);
  return { host: m[1] || '0.0.0.0', port };
}

export function formatAddress(a: ListenAddress): string {
  return isIP(a.host) === 6 ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
