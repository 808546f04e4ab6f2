import type { Command } from 'commander';
import type { LogLine } from '../../logs/index.ts';
import type { ReplicaStatus } from '../../server/control-plane.ts';
import type { EventRecord } from '../../store/index.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print, type CliContext } from '../context.ts';
import { table } from '../output.ts';

export async function printStatus(client: ApiClient, ctx: CliContext): Promise<void> {
  const { replicas } = await client.get<{ replicas: ReplicaStatus[] }>('/v1/replicas', {
    environment: ctx.environment,
  });
  if (ctx.json) return print(JSON.stringify(replicas, null, 2));
  print(
    table(
      ['REPLICA', 'STATE', 'HEALTH', 'ADDRESSES', 'VIP', 'PID', 'RESTARTS'],
      replicas.map((r) => [
        r.id,
        r.state,
        r.health,
        Object.entries(r.addresses)
          .map(([n, a]) => `${n}=${a}`)
          .join(' '),
        r.vip ?? '',
        r.pid === null ? '-' : String(r.pid),
        String(r.restarts),
      ]),
    ),
  );
}

export function formatLogLine(line: LogLine): string {
  return `${line.service}-${line.replica} | ${line.message}`;
}

/** Streams log lines (and, with `events`, replica state changes) until the signal aborts. */
export async function followLogs(
  client: ApiClient,
  ctx: CliContext,
  opts: { signal: AbortSignal; events?: boolean; service?: string },
): Promise<void> {
  let eventTimer: NodeJS.Timeout | undefined;
  if (opts.events) {
    const { events } = await client.get<{ events: EventRecord[] }>('/v1/events', {
      environment: ctx.environment,
      limit: 10_000,
    });
    let after = events.at(-1)?.id ?? 0;
    eventTimer = setInterval(() => {
      void client.get<{ events: EventRecord[] }>('/v1/events', { environment: ctx.environment, after }).then(
        ({ events: fresh }) => {
          for (const e of fresh) {
            after = e.id;
            if (e.kind.startsWith('replica.')) print(`[rampart] ${e.subject}: ${e.message}`);
          }
        },
        () => undefined,
      );
    }, 500);
  }
  try {
    await client.stream(
      'GET',
      '/v1/logs',
      {
        query: { environment: ctx.environment, service: opts.service, follow: 'true', since: Date.now() },
        signal: opts.signal,
      },
      (item) => print(formatLogLine(item as unknown as LogLine)),
    );
  } finally {
    if (eventTimer) clearInterval(eventTimer);
  }
}

export function registerPs(program: Command): void {
  program
    .command('ps')
    .description('list replicas: state, health, addresses, pid, restarts')
    .option('--json', 'machine-readable output')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      await printStatus(ApiClient.connect(ctx.stateDir), ctx);
    });
}
