import type { Command } from 'commander';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { runStreaming } from './up.ts';

export function registerDown(program: Command): void {
  program
    .command('down')
    .description(
      'stop the environment and remove every namespace, veth, bridge and nft table it made (database data stays)',
    )
    .option('--json', 'machine-readable output')
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = ApiClient.connect(ctx.stateDir);
      await runStreaming(client, '/v1/down', { environment: ctx.environment }, ctx.json);
      if (!ctx.json) print(`environment ${ctx.environment} is down`);
    });
}
