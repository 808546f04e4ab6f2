import type { Command } from 'commander';
import type { Red, ReplicaPoint } from '../../observe/index.ts';
import type { ReplicaStatus } from '../../server/control-plane.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { table } from '../output.ts';

const ms = (v: number | null) => (v === null ? '-' : `${v < 10 ? v.toFixed(1) : Math.round(v)}ms`);
const mib = (bytes: number) => `${(bytes / (1 << 20)).toFixed(1)}MiB`;

export interface ReplicaUsage {
  replica: string;
  service: string;
  cpuPercent: number | null;
  memoryBytes: number | null;
}

export function registerMetrics(program: Command): void {
  program
    .command('metrics [service]')
    .description('RED metrics per service (rate, errors, latency) and CPU and memory per replica')
    .option('--since <duration>', 'time range of the RED figures, e.g. 1m, 1h', '5m')
    .option('--json', 'JSON output')
    .action(async (service: string | undefined, opts: { since: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = ApiClient.connect(ctx.stateDir);
      const [red, { replicas }] = await Promise.all([
        client.get<{ services: Record<string, Red>; edges: Record<string, Red> }>('/v1/observe/red', {
          since: opts.since,
        }),
        client.get<{ replicas: ReplicaStatus[] }>('/v1/replicas', { environment: ctx.environment }),
      ]);
      const services = Object.entries(red.services)
        .filter(([name]) => !service || name === service)
        .sort(([a], [b]) => a.localeCompare(b));
      const usage: ReplicaUsage[] = [];
      for (const r of replicas.filter((x) => !service || x.service === service)) {
        const key = `${r.environment}/${r.namespace}/${r.service}/${r.replica}`;
        const { points } = await client.get<{ points: ReplicaPoint[] }>('/v1/observe/metrics', {
          kind: 'replica',
          key,
          since: '1m',
        });
        const last = points.at(-1);
        usage.push({
          replica: r.id,
          service: r.service,
          cpuPercent: last ? last.cpuPercent : null,
          memoryBytes: last ? last.memoryBytes : null,
        });
      }
      if (ctx.json) {
        return print(JSON.stringify({ services: Object.fromEntries(services), replicas: usage }, null, 2));
      }
      print(
        table(
          ['SERVICE', 'RATE', 'ERRORS', 'P50', 'P95', 'P99'],
          services.map(([name, r]) => [
            name,
            `${r.rate.toFixed(2)}/s`,
            `${(r.errorRate * 100).toFixed(1)}%`,
            ms(r.p50Ms),
            ms(r.p95Ms),
            ms(r.p99Ms),
          ]),
        ),
      );
      print('');
      print(
        table(
          ['REPLICA', 'CPU', 'MEMORY'],
          usage.map((u) => [
            u.replica,
            u.cpuPercent === null ? '-' : `${u.cpuPercent.toFixed(1)}%`,
            u.memoryBytes === null ? '-' : mib(u.memoryBytes),
          ]),
        ),
      );
    });
}
