import { request } from 'node:http';
import { connect } from 'node:net';
import type { ResolvedHealthCheck } from '../stack/index.ts';

export interface ProbeResult {
  ok: boolean;
  detail: string;
}

/** One health probe from the host to a replica address. 2xx and 3xx answers are healthy. */
export function probe(check: ResolvedHealthCheck, address: string): Promise<ProbeResult> {
  if (check.http) return probeHttp(address, check.http.port, check.http.path, check.timeoutMs);
  if (check.tcp) return probeTcp(address, check.tcp.port, check.timeoutMs);
  return Promise.resolve({ ok: true, detail: 'no check' });
}

function probeHttp(host: string, port: number, path: string, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, method: 'GET', timeout: timeoutMs, agent: false }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve({ ok: status >= 200 && status < 400, detail: `HTTP ${status}` });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', (e) => resolve({ ok: false, detail: e.message }));
    req.end();
  });
}

function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ ok: false, detail: `timed out after ${timeoutMs} ms` });
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: true, detail: 'connected' });
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      resolve({ ok: false, detail: e.message });
    });
  });
}

/**
 * Pure threshold logic: a replica turns healthy after `healthyThreshold` consecutive successes and
 * unhealthy after `unhealthyThreshold` consecutive failures (as Docker and Kubernetes probes do).
 */
export interface HealthTally {
  healthy: boolean;
  successes: number;
  failures: number;
}

export function tally(
  prev: HealthTally,
  ok: boolean,
  check: Pick<ResolvedHealthCheck, 'healthyThreshold' | 'unhealthyThreshold'>,
): HealthTally {
  const successes = ok ? prev.successes + 1 : 0;
  const failures = ok ? 0 : prev.failures + 1;
  let healthy = prev.healthy;
  if (!healthy && successes >= check.healthyThreshold) healthy = true;
  if (healthy && failures >= check.unhealthyThreshold) healthy = false;
  return { healthy, successes, failures };
}
