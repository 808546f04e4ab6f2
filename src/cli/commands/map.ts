import type { Command } from 'commander';
import type { Red, ServiceMap } from '../../observe/index.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { table } from '../output.ts';

const ms = (v: number | null) => (v === null ? '-' : `${v < 10 ? v.toFixed(1) : Math.round(v)}ms`);
const rate = (r: Red) => `${r.rate < 10 ? r.rate.toFixed(2) : r.rate.toFixed(0)}/s`;
const pct = (r: Red) => `${(r.errorRate * 100).toFixed(1)}%`;

export function registerMap(program: Command): void {
  program
    .command('map')
    .description('the service map: who calls whom, with rate, errors and latency (traces and flows)')
    .option('--window <duration>', 'time window, e.g. 1m, 15m', '5m')
    .option('--json', 'the map as JSON (nodes and edges)')
    .action(async (opts: { window: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const map = await ApiClient.connect(ctx.stateDir).get<ServiceMap>('/v1/observe/map', {
        environment: ctx.environment,
        window: opts.window,
      });
      if (ctx.json) return print(JSON.stringify(map, null, 2));
      if (map.edges.length === 0) return print(`no calls seen in the last ${opts.window}`);
      const kindOf = new Map(map.nodes.map((n) => [n.id, n.kind]));
      print(
        table(
          ['FROM', 'TO', 'RATE', 'ERRORS', 'P50', 'P95', 'P99', 'SEEN IN'],
          map.edges.map((e) => [
            e.from,
            `${e.to}${kindOf.get(e.to) === 'service' ? '' : ` (${kindOf.get(e.to) ?? '?'})`}`,
            rate(e),
            pct(e),
            ms(e.p50Ms),
            ms(e.p95Ms),
            ms(e.p99Ms),
            e.sources.join('+'),
          ]),
        ),
      );
    });
}
