import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { RampartError } from '../../platform/errors.ts';
import { loadStack } from '../../stack/index.ts';
import { connectOrStartDaemon, type ApiClient } from '../client.ts';
import { contextOf, print, type CliContext } from '../context.ts';
import { followLogs, printStatus } from './ps.ts';

export function stackFileOf(file: string | undefined): string {
  const path = resolve(file ?? 'rampart.yaml');
  if (!existsSync(path)) {
    throw new RampartError('RAMPART_E_STACK_NOT_FOUND', `stack file ${path} does not exist`, { file: path });
  }
  return path;
}

export async function runStreaming(
  client: ApiClient,
  path: string,
  body: unknown,
  json: boolean,
  signal?: AbortSignal,
): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> = {};
  await client.stream('POST', path, { body, signal }, (item) => {
    last = item;
    if (json) print(JSON.stringify(item));
    else if (item.type === 'progress') print(`  ${String(item.message)}`);
  });
  if (last.type === 'error') {
    const e = last.error as { code: RampartError['code']; message: string; details?: object };
    throw new RampartError(e.code, e.message, (e.details ?? {}) as Record<string, unknown>);
  }
  return last;
}

async function up(ctx: CliContext, opts: { file?: string; detach?: boolean }): Promise<void> {
  const file = stackFileOf(opts.file);
  // Validate here first: errors show before any daemon starts, and fromEnv secrets come from this shell.
  const stack = await loadStack({ file, environment: ctx.environment });
  const clientEnv: Record<string, string> = {};
  for (const s of stack.services) {
    for (const ref of s.secrets) {
      if ('fromEnv' in ref.source) {
        const value = process.env[ref.source.fromEnv];
        if (value !== undefined) clientEnv[ref.source.fromEnv] = value;
      }
    }
  }
  const client = await connectOrStartDaemon(ctx.stateDir, {
    onStart: (log) => !ctx.json && print(`started the Rampart daemon (log: ${log})`),
  });
  if (!ctx.json) print(`rampart up: ${stack.name} → environment ${ctx.environment} (API ${client.url})`);
  // In the foreground the stack lives and dies with this command, as with `docker compose up`:
  // Ctrl-C at any point (even while starting) stops it.
  const abort = new AbortController();
  let stopping = false;
  const onSignal = (): void => {
    if (stopping) return;
    stopping = true;
    abort.abort();
  };
  if (!opts.detach && !ctx.json) {
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
  const stop = async (why: string): Promise<void> => {
    print(why);
    await runStreaming(client, '/v1/down', { environment: ctx.environment }, false);
    print('stopped');
  };
  try {
    await runStreaming(
      client,
      '/v1/up',
      { file, environment: ctx.environment, clientEnv },
      ctx.json,
      abort.signal,
    );
  } catch (error) {
    if (opts.detach || ctx.json) {
      if (!ctx.json)
        print(
          `the stack is left as it is for inspection: rampart ps, rampart logs <service>; rampart down removes it`,
        );
    } else await stop('up failed; stopping what was started').catch(() => undefined);
    throw error;
  }
  const dashboard = `dashboard: ${client.url}/  (sign in with an API token; the admin's is in ${ctx.stateDir}/token)`;
  if (opts.detach || ctx.json) {
    if (!ctx.json) {
      await printStatus(client, ctx);
      print(dashboard);
    }
    return;
  }
  if (stopping) return stop('\ninterrupted; stopping…');
  await printStatus(client, ctx);
  print(dashboard);
  print(
    `\nattached: logs and state changes follow; Ctrl-C stops the stack (use --detach to leave it running)`,
  );
  await followLogs(client, ctx, { signal: abort.signal, events: true });
  await stop('\nstopping…');
}

export function registerUp(program: Command): void {
  program
    .command('up')
    .description(
      'bring the stack up (like `docker compose up`): networks, databases, services in dependency order',
    )
    .option('-f, --file <file>', 'stack file', 'rampart.yaml')
    .option('-d, --detach', 'leave it running in the background')
    .action(async (opts: { file?: string; detach?: boolean }, cmd: Command) => up(contextOf(cmd), opts));
}
