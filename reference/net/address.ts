// host:port addresses, the one parser and formatter of the reference (IPv6 in brackets: [::1]:7000).
import type { AddressInfo } from 'node:net';

/** host and port of `host:port` ("[v6]:port" for IPv6, port 0 to 65535); throws on anything else. */
export function parseHostPort(s: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\s]+)):([0-9]{1,5})$/.exec(s.trim());
  if (!m || Number(m[3]) > 65535) throw new Error(`expected host:port, got '${s}'`);
  return { host: (m[1] ?? m[2])!, port: Number(m[3]) };
}

/** host:port of a bound socket address (IPv6 in brackets). */
export function formatAddress(a: AddressInfo | { address: string; port: number; family?: string }): string {
  const v6 = a.family === 'IPv6' || a.address.includes(':');
  return `${v6 ? `[${a.address}]` : a.address}:${a.port}`;
}
