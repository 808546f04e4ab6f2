import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * How often an open NDJSON answer gets a blank line when nothing else was sent. Clients skip blank
 * lines; without them a quiet follow (no log line for minutes) or a long operation without progress
 * hits the client's body timeout (undici's `fetch`, Node's and the CLI's: 300 s) and dies with
 * "terminated", and proxies drop idle connections sooner.
 */
export const NDJSON_HEARTBEAT_MS = 15_000;

/** Open answers per HTTP server (encapsulated fastify scopes share it), ended by `endOpenStreams`. */
const openStreams = new WeakMap<object, Set<NdjsonStream>>();

export interface NdjsonStream {
  send(obj: unknown): void;
  end(): void;
  closed(): boolean;
}

/**
 * Takes over the reply and answers NDJSON, one object per line, headers sent at once (a follow
 * with no match yet must still answer: clients wait for the headers). Until the answer ends or the
 * client goes, a blank line goes out after every `heartbeatMs` without a line.
 */
export function ndjson(reply: FastifyReply, heartbeatMs = NDJSON_HEARTBEAT_MS): NdjsonStream {
  reply.hijack();
  reply.raw.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  reply.raw.flushHeaders();
  let closed = false;
  let idle = true;
  const heartbeat = setInterval(() => {
    if (idle && !closed) reply.raw.write('\n');
    idle = true;
  }, heartbeatMs);
  heartbeat.unref();
  let open = openStreams.get(reply.server.server);
  if (!open) openStreams.set(reply.server.server, (open = new Set()));
  const registry = open;
  const close = (): void => {
    closed = true;
    clearInterval(heartbeat);
    registry.delete(stream);
  };
  reply.raw.on('close', close);
  const stream: NdjsonStream = {
    send: (obj) => {
      if (closed) return;
      idle = false;
      reply.raw.write(`${JSON.stringify(obj)}\n`);
    },
    end: () => {
      if (!closed) reply.raw.end();
      close();
    },
    closed: () => closed,
  };
  registry.add(stream);
  return stream;
}

/**
 * Ends every NDJSON answer still open on `app` (follows never end by themselves): a closing server
 * waits for its connections, so without this a `rampart logs -f` would keep the daemon from stopping.
 */
export function endOpenStreams(app: FastifyInstance): void {
  for (const stream of [...(openStreams.get(app.server) ?? [])]) stream.end();
}
