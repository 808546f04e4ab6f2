/**
 * For tests of the tracing preload: the smallest OTLP/HTTP receiver (an Observability and a server
 * that ingests what it is sent; the daemon's routes add only HTTP details to this), and services
 * started as Rampart starts them, with the preload in NODE_OPTIONS and the receiver as endpoint.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { Observability } from '../observe/observability.ts';
import { decodeTraces, readOtlpBody } from '../observe/otlp.ts';
import { preloadEnvironment } from '../observe/preload.ts';

export interface PreloadHarness {
  observe: Observability;
  /** The receiver's base URL (OTEL_EXPORTER_OTLP_ENDPOINT). */
  endpoint: string;
  /**
   * Runs `node <dir>/<file>` as `service` with the preload; resolves once the service prints its
   * port as its first line of output (`{"port": n}`).
   */
  start(
    file: string,
    service: string,
    env?: Record<string, string>,
    options?: { ignorePaths?: string[] },
  ): Promise<{ child: ChildProcess; port: number }>;
  /** Kills the services still running, closes the receiver and the stores. */
  close(): Promise<void>;
}

export async function startPreloadHarness(dir: string): Promise<PreloadHarness> {
  const observe = new Observability();
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const { format, bytes } = readOtlpBody({
        body: Buffer.concat(chunks),
        contentType: req.headers['content-type'],
      });
      observe.ingestSpans(decodeTraces(bytes, format));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  const port = await new Promise<number>((resolve) =>
    receiver.listen(0, '127.0.0.1', () => resolve((receiver.address() as { port: number }).port)),
  );
  const endpoint = `http://127.0.0.1:${port}`;
  const children: ChildProcess[] = [];
  return {
    observe,
    endpoint,
    start(file, service, env = {}, options = {}) {
      const child = spawn(process.execPath, [join(dir, file)], {
        cwd: dir,
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          ...preloadEnvironment({
            endpoint,
            service,
            environment: 'test',
            namespace: 'default',
            replica: 0,
            ...(options.ignorePaths && { ignorePaths: options.ignorePaths }),
          }),
          ...env,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(child);
      return new Promise((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`${service} exited early (${code})`)));
        child.stdout?.once('data', (d: Buffer) =>
          resolve({ child, port: (JSON.parse(String(d)) as { port: number }).port }),
        );
      });
    },
    async close() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await new Promise((resolve) => receiver.close(resolve));
      await observe.close();
    },
  };
}
