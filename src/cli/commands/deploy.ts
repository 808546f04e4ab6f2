import type { Command } from 'commander';
import { ApiClient, connectOrStartDaemon } from '../client.ts';
import { contextOf, print, type CliContext } from '../context.ts';
import { runStreaming, stackFileOf } from './up.ts';

export interface RemoteOptions {
  remote?: string;
  token?: string;
}

/**
 * The API client: `--remote <url> --token <t>` (or RAMPART_URL / RAMPART_TOKEN, what a CI job has),
 * else the local daemon of the state directory.
 */
export async function deliveryClient(ctx: CliContext, opts: RemoteOptions): Promise<ApiClient> {
  const url = opts.remote ?? process.env.RAMPART_URL;
  const token = opts.token ?? process.env.RAMPART_TOKEN;
  if (url) return new ApiClient(url.replace(/\/$/, ''), token ?? '');
  return connectOrStartDaemon(ctx.stateDir, {
    onStart: (log) => !ctx.json && print(`started the Rampart daemon (log: ${log})`),
  });
}

export const withRemote = (cmd: Command): Command =>
  cmd
    .option('--remote <url>', 'the daemon API to use (a CI job); default: the local daemon')
    .option('--token <token>', 'API token for --remote (a deploy token); or RAMPART_TOKEN');

/** What the CI job or person is, for the audit. */
export const viaOf = (): string =>
  process.env.CI_JOB_URL
    ? `ci ${process.env.CI_JOB_URL}`
    : process.env.CI_JOB_ID
      ? `ci job ${process.env.CI_JOB_ID}`
      : `cli (${process.env.SUDO_USER ?? process.env.USER ?? 'unknown'})`;

export function registerDeploy(program: Command): void {
  withRemote(
    program
      .command('deploy [services...]')
      .description(
        'deploy the stack (or some services): print the plan, then roll each changed service to its new release',
      )
      .option('-f, --file <file>', 'stack file', 'rampart.yaml')
      .option('--dry-run', 'print the plan and stop')
      .option('--overlay <env>', "use another environment's overlay of the stack file (e.g. test)"),
  ).action(
    async (
      services: string[],
      opts: { file?: string; dryRun?: boolean; overlay?: string } & RemoteOptions,
      cmd: Command,
    ) => {
      const ctx = contextOf(cmd);
      const file = stackFileOf(opts.file);
      const client = await deliveryClient(ctx, opts);
      const last = await runStreaming(
        client,
        `/v1/environments/${ctx.environment}/deploy`,
        { file, services, dryRun: opts.dryRun === true, overlay: opts.overlay, via: viaOf() },
        ctx.json,
      );
      const record = last.record as { outcome?: string } | undefined;
      if (!ctx.json) print(`deploy ${record?.outcome ?? 'done'}`);
    },
  );
}
