import type { Exec } from '../platform/exec.ts';

/** A replica being drained: where its sockets live and which ports it serves on. */
export interface DrainTarget {
  netns: string;
  /** The service's TCP ports; the replica's own outgoing connections (to a database) do not count. */
  ports: readonly number[];
}

/** What a replica still holds: open connections to its ports, and how many of them carry a request. */
export interface ConnectionCount {
  open: number;
  busy: number;
  /** The peers (`address:port`) of the busy connections, for the progress line. */
  busyPeers?: string[];
}

/**
 * Pure: counts the connections an `ss -Htni state established` listing (taken inside the replica's
 * namespace) holds on `ports`, and which of them are busy. A connection is idle when nothing it
 * received is left unread and the last thing on it was a send: the answer to the last request went out and no new
 * request has come in since (`lastsnd` ≤ `lastrcv`, both in ms before now). A keep-alive connection
 * that a client holds open (a pooled HTTP client) is idle between requests; waiting for it to close
 * would make every drain run to its timeout.
 */
export function countConnections(listing: string, ports: readonly number[]): ConnectionCount {
  const wanted = new Set(ports);
  const lines = listing.split('\n');
  let open = 0;
  const busyPeers: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^(\d+)\s+(\d+)\s+(\S+)\s+(\S+)/.exec(lines[i]!);
    if (!head) continue;
    const localPort = Number(/:(\d+)$/.exec(head[3]!)?.[1]);
    if (!wanted.has(localPort)) continue;
    open++;
    const info = /^\s/.test(lines[i + 1] ?? '') ? lines[i + 1]! : '';
    const lastsnd = Number(/\blastsnd:(\d+)/.exec(info)?.[1] ?? Infinity);
    const lastrcv = Number(/\blastrcv:(\d+)/.exec(info)?.[1] ?? Infinity);
    // Recv-Q: a request the service has not read yet. Send-Q is the answer already sent and not
    // yet acknowledged (the client delays its ACK): that connection is done, not busy.
    const unread = head[1] !== '0';
    // A connection that has carried nothing yet was opened to send a request (just before the
    // replica left the VIP): closing it now would fail that request on a fresh connection.
    const fresh = !/\bbytes_received:[1-9]/.test(info);
    if (unread || fresh || lastsnd > lastrcv)
      busyPeers.push(head[4]!.replace('[::ffff:', '').replace(']', ''));
  }
  return { open, busy: busyPeers.length, ...(busyPeers.length > 0 && { busyPeers }) };
}

/**
 * Connections to a replica's ports, seen from inside its namespace (so connections that reached it
 * through a VIP or a published port count, whatever conntrack did to their addresses). A namespace
 * that is already gone holds nothing.
 */
export async function connectionsOf(exec: Exec, target: DrainTarget): Promise<ConnectionCount> {
  const r = await exec(['ip', 'netns', 'exec', target.netns, 'ss', '-Htni', 'state', 'established'], {
    allowFailure: true,
  });
  return r.code === 0 ? countConnections(r.stdout, target.ports) : { open: 0, busy: 0 };
}
