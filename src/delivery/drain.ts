import type { Exec } from '../platform/exec.ts';

/** Connection states that still carry (or may still carry) requests. */
const CLOSED = /\b(TIME_WAIT|CLOSE|CLOSE_WAIT|LAST_ACK)\b/;

/** Pure: how many open TCP connections a `conntrack -L` listing holds. */
export function countOpenConnections(listing: string): number {
  return listing.split('\n').filter((line) => line.startsWith('tcp') && !CLOSED.test(line)).length;
}

/**
 * Open TCP connections whose replies come from `address` (a replica behind a VIP or a published
 * port: conntrack's reply source is the replica after DNAT). 0 when conntrack is not installed.
 */
export async function connectionsTo(exec: Exec, address: string): Promise<number> {
  const r = await exec(['conntrack', '-L', '-p', 'tcp', '--reply-src', address], { allowFailure: true });
  return r.code === 0 ? countOpenConnections(r.stdout) : 0;
}
