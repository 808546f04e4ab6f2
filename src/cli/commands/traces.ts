import type { Command } from 'commander';
import { formatDuration, type TraceSummary } from '../../observe/index.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { formatTime, table } from '../output.ts';

export function registerTraces(program: Command): void {
  program
    .command('traces')
    .description('list recent traces of the environment, newest first')
    .option('--service <name>', 'only traces with a span of this service')
    .option('--operation <name>', 'only traces with a span of this operation')
    .option('--min-duration <duration>', 'only traces at least this long, e.g. 250ms, 1s')
    .option('--error', 'only traces with an error span')
    .option('--since <time>', 'only traces newer than this, e.g. 15m, or an ISO time')
    .option('--limit <n>', 'at most n traces', '20')
    .option('--json', 'JSON output')
    .action(
      async (
        opts: {
          service?: string;
          operation?: string;
          minDuration?: string;
          error?: boolean;
          since?: string;
          limit: string;
        },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        const { traces } = await ApiClient.connect(ctx.stateDir).get<{ traces: TraceSummary[] }>(
          '/v1/observe/traces',
          {
            environment: ctx.environment,
            service: opts.service,
            operation: opts.operation,
            minDuration: opts.minDuration,
            error: opts.error ? 'true' : undefined,
            since: opts.since,
            limit: opts.limit,
          },
        );
        if (ctx.json) return print(JSON.stringify(traces, null, 2));
        if (traces.length === 0) return print('no traces match');
        print(
          table(
            ['TRACE', 'START', 'ROOT', 'DURATION', 'SPANS', 'ERRORS', 'SERVICES'],
            traces.map((t) => [
              t.traceId,
              formatTime(Number(BigInt(t.startTimeUnixNano) / 1_000_000n)),
              `${t.rootService} ${t.rootOperation}`,
              formatDuration(t.durationNs),
              String(t.spanCount),
              String(t.errorCount),
              t.services.join(','),
            ]),
          ),
        );
      },
    );
}
