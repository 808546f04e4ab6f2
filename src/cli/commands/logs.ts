import type { Command } from 'commander';
import type { LogLine } from '../../logs/index.ts';
import { parseDuration } from '../../platform/clock.ts';
import { RampartError } from '../../platform/errors.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { formatLogLine } from './ps.ts';
import type { StoredLog } from '../../observe/index.ts';
import type { CliContext } from '../context.ts';

/** `--query`: the observe log store (parsed JSON lines, every replica, OTLP and `_bulk` too). */
async function searchLogs(
  ctx: CliContext,
  service: string | undefined,
  opts: { follow?: boolean; since?: string; tail?: string; query?: string },
): Promise<void> {
  const query = [service ? `service:${service}` : '', opts.query ?? ''].filter(Boolean).join(' ');
  const abort = new AbortController();
  process.once('SIGINT', () => abort.abort());
  await ApiClient.connect(ctx.stateDir).stream(
    'GET',
    '/v1/observe/logs',
    {
      query: {
        environment: ctx.environment,
        query,
        since: opts.since,
        limit: opts.tail,
        follow: opts.follow ? 'true' : undefined,
      },
      signal: abort.signal,
    },
    (item) => {
      const l = item as unknown as StoredLog;
      const level = l.level ? `${l.level.toUpperCase()} ` : '';
      print(
        ctx.json
          ? JSON.stringify(item)
          : `${new Date(l.time).toISOString()} ${l.service}-${l.replica ?? '?'} | ${level}${l.message}`,
      );
    },
  );
}

export function registerLogs(program: Command): void {
  program
    .command('logs [service]')
    .description('print the logs of the environment or of one service')
    .option('-f, --follow', 'keep printing new lines')
    .option('--since <duration>', 'only lines newer than this, e.g. 15m, 2h')
    .option('--tail <n>', 'only the last n lines')
    .option('-n, --namespace <namespace>', 'namespace of the service')
    .option('--json', 'one JSON object per line')
    .option(
      '-q, --query <query>',
      'search the central log store: fields and words, e.g. \'service:gateway level:error "timeout"\'',
    )
    .action(
      async (
        service: string | undefined,
        opts: { follow?: boolean; since?: string; tail?: string; namespace?: string; query?: string },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        if (opts.query !== undefined) return searchLogs(ctx, service, opts);
        let since: number | undefined;
        if (opts.since) {
          const ms = parseDuration(opts.since);
          if (ms === undefined)
            throw new RampartError('RAMPART_E_BAD_REQUEST', `--since ${opts.since} is not a duration`, {
              field: '--since',
              fix: 'use e.g. 30s, 15m, 2h',
            });
          since = Date.now() - ms;
        }
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        await ApiClient.connect(ctx.stateDir).stream(
          'GET',
          '/v1/logs',
          {
            query: {
              environment: ctx.environment,
              service,
              namespace: opts.namespace,
              since,
              tail: opts.tail,
              follow: opts.follow ? 'true' : undefined,
            },
            signal: abort.signal,
          },
          (item) => print(ctx.json ? JSON.stringify(item) : formatLogLine(item as unknown as LogLine)),
        );
      },
    );
}
