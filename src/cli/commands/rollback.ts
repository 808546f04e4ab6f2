import type { Command } from 'commander';
import { contextOf, print } from '../context.ts';
import { deliveryClient, viaOf, withRemote, type RemoteOptions } from './deploy.ts';
import { runStreaming } from './up.ts';

export function registerRollback(program: Command): void {
  withRemote(
    program
      .command('rollback <service>')
      .description(
        'roll a service back to its previous release (or --to a given one), rolling as a deploy does',
      )
      .option('--to <release>', 'release id (or a prefix of it) from `rampart history`'),
  ).action(async (service: string, opts: { to?: string } & RemoteOptions, cmd: Command) => {
    const ctx = contextOf(cmd);
    const client = await deliveryClient(ctx, opts);
    const last = await runStreaming(
      client,
      `/v1/environments/${ctx.environment}/rollback`,
      { service, to: opts.to, via: viaOf() },
      ctx.json,
    );
    const record = last.record as { message?: string } | undefined;
    if (!ctx.json) print(`${service}: ${record?.message ?? 'rolled back'}`);
  });
}
