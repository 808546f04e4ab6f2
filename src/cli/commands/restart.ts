import type { Command } from 'commander';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { runStreaming } from './up.ts';

export function registerRestart(program: Command): void {
  program
    .command('restart <service>')
    .description("restart a service's replicas one at a time, each waiting until it is ready")
    .option('-n, --namespace <namespace>', 'namespace of the service')
    .option('--json', 'machine-readable output')
    .action(async (service: string, opts: { namespace?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = ApiClient.connect(ctx.stateDir);
      await runStreaming(
        client,
        '/v1/restart',
        { environment: ctx.environment, namespace: opts.namespace, service },
        ctx.json,
      );
      if (!ctx.json) print(`${service} restarted`);
    });
}
