import type { Command } from 'commander';
import { resolve } from 'node:path';
import { contextOf, print } from '../context.ts';
import { deliveryClient, viaOf, withRemote, type RemoteOptions } from './deploy.ts';
import { runStreaming } from './up.ts';

export function registerEnv(program: Command): void {
  const env = program
    .command('env')
    .description('environments: isolated copies of a stack (staging on demand)');
  withRemote(
    env
      .command('create <name>')
      .description(
        "a full isolated copy: own bridges, addresses, namespaces and database (seeded by the stack), the source's policies in protect mode",
      )
      .option('--from <env>', 'copy the stack (and firewall policies) this environment runs')
      .option('-f, --file <file>', 'stack file (when not --from)')
      .option('--overlay <env>', "the stack file's overlay to use (e.g. test: small seeds)")
      .option('--port-offset <n>', 'publish host ports shifted by n (default: publish none)', (v) =>
        Number(v),
      ),
  ).action(
    async (
      name: string,
      opts: { from?: string; file?: string; overlay?: string; portOffset?: number } & RemoteOptions,
      cmd: Command,
    ) => {
      const ctx = contextOf(cmd);
      const client = await deliveryClient(ctx, opts);
      await runStreaming(
        client,
        '/v1/environments',
        {
          environment: name,
          from: opts.from,
          file: opts.file ? resolve(opts.file) : undefined,
          overlay: opts.overlay,
          portOffset: opts.portOffset,
          via: viaOf(),
        },
        ctx.json,
      );
      if (!ctx.json) print(`environment ${name} is up`);
    },
  );
  withRemote(env.command('ls').description('environments this daemon runs')).action(
    async (opts: RemoteOptions, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = await deliveryClient(ctx, opts);
      const { environments } = await client.get<{
        environments: { name: string; stack: string; file: string; services: number; createdAt: number }[];
      }>('/v1/environment-list');
      if (ctx.json) return print(JSON.stringify(environments));
      for (const e of environments)
        print(
          `${e.name.padEnd(9)} ${e.stack.padEnd(12)} ${String(e.services).padStart(3)} services  ${e.file}`,
        );
    },
  );
  withRemote(
    env
      .command('destroy <name>')
      .description('remove everything the environment made (networks, replicas, records)'),
  ).action(async (name: string, opts: RemoteOptions, cmd: Command) => {
    const ctx = contextOf(cmd);
    const client = await deliveryClient(ctx, opts);
    await runStreaming(client, `/v1/environments/${name}/destroy`, {}, ctx.json);
    if (!ctx.json) print(`environment ${name} destroyed`);
  });
}
