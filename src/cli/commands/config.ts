import type { Command } from 'commander';
import type { ConfigEntry } from '../../server/control-plane.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { table } from '../output.ts';

export function registerConfig(program: Command): void {
  program
    .command('config <service>')
    .description('print the effective config of a service, with the source of every key (secrets redacted)')
    .option('-n, --namespace <namespace>', 'namespace of the service')
    .option('--json', 'machine-readable output')
    .action(async (service: string, opts: { namespace?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { entries } = await ApiClient.connect(ctx.stateDir).get<{ entries: ConfigEntry[] }>(
        '/v1/config',
        {
          environment: ctx.environment,
          service,
          namespace: opts.namespace,
        },
      );
      if (ctx.json) return print(JSON.stringify(entries, null, 2));
      print(
        table(
          ['KEY', 'VARIABLE', 'VALUE', 'SOURCE'],
          entries.map((e) => [e.key, e.variable, e.value, e.source]),
        ),
      );
    });
}
