/**
 * The traffic generator's HTTP/1.1 client: a pool of keep-alive connections to one server, one
 * request at a time on each, every request written as one buffer and every response read by a
 * small parser (status line, `content-length` or chunked body, `connection: close`).
 *
 * Why not `node:http`: the generator shares the machine with the stack it measures, so what it
 * spends is taken from the stack. Sending 500 small POSTs a second to a local server that answers
 * after 10 ms (2-vCPU VM, Node 20, same runs alternated), `http.request` with a keep-alive agent
 * cost the client 350-570 µs of CPU per request, and this client 260-320 µs (ClientRequest,
 * IncomingMessage, the agent and the header objects are most of the difference). At the
 * benchmark's ~500 assessments a second that is ~5-10% of a core given back to the stack.
 *
 * Not a general client: no redirects, no 1xx besides skipping them, no pipelining, no TLS. A
 * failure is an error code (`ECONNREFUSED`, `ECONNRESET`, `closed`, `bad-response`, `timeout`),
 * never a thrown Error.
 */
import net from 'node:net';

export interface LeanResponse {
  /** HTTP status, or 0 when no complete answer came (then `error` says why). */
  status: number;
  body?: Buffer;
  error?: string;
}

interface Waiter {
  resolve(r: LeanResponse): void;
  timer: NodeJS.Timeout;
}

const CRLF2 = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');

/**
 * A response's status line and headers, as far as reading it goes: how its body ends (`none`:
 * 204/304; `length`: after `length` bytes; `chunked`; `close`: at the connection's end), and
 * whether the server closes the connection after it.
 */
interface Head {
  status: number;
  body: 'none' | 'length' | 'chunked' | 'close';
  length: number;
  close: boolean;
}

/** One keep-alive connection and the response it is reading. */
class Connection {
  readonly socket: net.Socket;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private waiter: Waiter | undefined;
  /** The head of the response being read, once complete. */
  private head: Head | undefined;
  /** Body bytes so far (chunked: decoded). */
  private body: Buffer[] = [];
  private bodyBytes = 0;
  private ended = false;

  constructor(
    host: string,
    port: number,
    private readonly onIdle: (c: Connection) => void,
    private readonly onGone: (c: Connection) => void,
  ) {
    this.socket = net.connect({ host, port, noDelay: true });
    this.socket.on('data', (d: Buffer) => this.read(d));
    this.socket.on('error', (e: NodeJS.ErrnoException) => this.fail(e.code ?? 'socket-error'));
    this.socket.on('close', () => {
      this.ended = true;
      // A body read to the end of the connection is complete now.
      if (this.head?.body === 'close') this.finish();
      else this.fail('closed');
    });
  }

  get usable(): boolean {
    return !this.ended && !this.socket.destroyed;
  }

  send(request: string, waiter: Waiter): void {
    this.waiter = waiter;
    this.socket.write(request, 'utf8');
  }

  /** Gives up on the response being read (its deadline passed): the connection cannot be reused. */
  abandon(): void {
    this.waiter = undefined;
    this.socket.destroy();
  }

  private read(d: Buffer): void {
    if (!this.waiter) {
      // Nothing asked: a server speaking out of turn. The connection cannot be trusted.
      this.socket.destroy();
      return;
    }
    this.chunks.push(d);
    this.buffered += d.length;
    if (!this.head && !this.readHead()) return;
    if (this.readBody()) this.finish();
  }

  private pending(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private consume(n: number): Buffer {
    const all = this.pending();
    const taken = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return taken;
  }

  /** Parses the status line and headers once they are all in; false while more must come. */
  private readHead(): boolean {
    for (;;) {
      const all = this.pending();
      const end = all.indexOf(CRLF2);
      if (end < 0) {
        if (this.buffered > 64 * 1024) this.fail('bad-response');
        return false;
      }
      const lines = this.consume(end + 4)
        .toString('latin1', 0, end)
        .split('\r\n');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
      if (!status) {
        this.fail('bad-response');
        return false;
      }
      const code = Number(status[1]);
      if (code >= 100 && code < 200) continue; // an interim response: the real one follows
      let length: number | undefined;
      let chunked = false;
      let close = false;
      for (let i = 1; i < lines.length; i++) {
        const line = lines[i]!;
        const colon = line.indexOf(':');
        if (colon < 0) continue;
        const name = line.slice(0, colon).trim().toLowerCase();
        const value = line
          .slice(colon + 1)
          .trim()
          .toLowerCase();
        if (name === 'content-length') length = Number(value);
        else if (name === 'transfer-encoding') chunked = value.split(',').some((v) => v.trim() === 'chunked');
        else if (name === 'connection') close = value.split(',').some((v) => v.trim() === 'close');
      }
      if (length !== undefined && !(Number.isInteger(length) && length >= 0)) {
        this.fail('bad-response');
        return false;
      }
      const body =
        code === 204 || code === 304
          ? 'none'
          : chunked
            ? 'chunked'
            : length !== undefined
              ? 'length'
              : 'close';
      this.head = { status: code, body, length: length ?? 0, close: close || body === 'close' };
      return true;
    }
  }

  /** Reads the body; true when it is complete. */
  private readBody(): boolean {
    const head = this.head!;
    switch (head.body) {
      case 'none':
        return true;
      case 'chunked':
        return this.readChunks();
      case 'close':
        // Until the connection closes (the 'close' handler finishes it).
        if (this.buffered > 0) this.takeBody(this.buffered);
        return false;
      case 'length':
        if (this.buffered < head.length) return false;
        this.takeBody(head.length);
        return true;
    }
  }

  private takeBody(n: number): void {
    const part = this.consume(n);
    this.body.push(Buffer.from(part));
    this.bodyBytes += part.length;
  }

  private readChunks(): boolean {
    for (;;) {
      const all = this.pending();
      const lineEnd = all.indexOf(CRLF);
      if (lineEnd < 0) return false;
      const size = parseInt(all.toString('latin1', 0, lineEnd).split(';')[0]!.trim(), 16);
      if (!Number.isInteger(size) || size < 0) {
        this.fail('bad-response');
        return false;
      }
      if (size === 0) {
        // The last chunk, then optional trailers, then an empty line.
        const end = all.indexOf(CRLF2, lineEnd);
        if (end < 0) return false;
        this.consume(end + 4);
        return true;
      }
      if (this.buffered < lineEnd + 2 + size + 2) return false;
      this.consume(lineEnd + 2);
      this.takeBody(size);
      this.consume(2);
    }
  }

  private finish(): void {
    const waiter = this.waiter;
    const head = this.head;
    if (!waiter || !head) return;
    this.waiter = undefined;
    this.head = undefined;
    const body = this.body.length === 1 ? this.body[0]! : Buffer.concat(this.body, this.bodyBytes);
    this.body = [];
    this.bodyBytes = 0;
    clearTimeout(waiter.timer);
    // Closed by the server, or with bytes after the answer that nobody asked for.
    if (head.close || this.ended || this.buffered > 0) this.socket.destroy();
    if (this.usable) this.onIdle(this);
    else this.onGone(this);
    waiter.resolve({ status: head.status, body });
  }

  private fail(error: string): void {
    this.ended = true;
    this.socket.destroy();
    this.onGone(this);
    const waiter = this.waiter;
    this.waiter = undefined;
    if (!waiter) return;
    clearTimeout(waiter.timer);
    waiter.resolve({ status: 0, error });
  }
}

export interface PoolOptions {
  host: string;
  port: number;
  /** Connections kept open while idle (more may be opened while this many are busy). */
  maxIdle: number;
}

/** Keep-alive connections to one server; idle ones are reused most recently used first. */
export class KeepAlivePool {
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private closed = false;
  /** The `host` header. */
  private readonly host: string;

  constructor(private readonly opts: PoolOptions) {
    this.host = `${opts.host.includes(':') ? `[${opts.host}]` : opts.host}:${opts.port}`;
  }

  /**
   * Sends `POST path` with these headers (`host` and `content-length` are added) and `body`;
   * resolves with the status and body, or status 0 and an error code. Never rejects.
   */
  post(
    path: string,
    headers: Record<string, string>,
    body: string,
    timeoutMs: number,
  ): Promise<LeanResponse> {
    // One string, written once (the head is ASCII, the body UTF-8).
    let request = `POST ${path} HTTP/1.1\r\nhost: ${this.host}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n`;
    for (const name of Object.keys(headers)) request += `${name}: ${headers[name]}\r\n`;
    request += `\r\n${body}`;
    return new Promise((resolve) => {
      if (this.closed) return resolve({ status: 0, error: 'closed' });
      let connection = this.idle.pop();
      while (connection && !connection.usable) connection = this.idle.pop();
      if (!connection) {
        connection = new Connection(
          this.opts.host,
          this.opts.port,
          (c) => this.release(c),
          (c) => this.forget(c),
        );
        this.all.add(connection);
      }
      const c = connection;
      const timer = setTimeout(() => {
        c.abandon();
        this.forget(c);
        resolve({ status: 0, error: 'timeout' });
      }, timeoutMs);
      c.send(request, { resolve, timer });
    });
  }

  /** Open connections (busy and idle). */
  get size(): number {
    return this.all.size;
  }

  destroy(): void {
    this.closed = true;
    for (const c of this.all) c.socket.destroy();
    this.all.clear();
    this.idle.length = 0;
  }

  private release(c: Connection): void {
    if (this.closed || this.idle.length >= this.opts.maxIdle) {
      c.socket.destroy();
      this.all.delete(c);
      return;
    }
    this.idle.push(c);
  }

  private forget(c: Connection): void {
    this.all.delete(c);
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
  }
}
