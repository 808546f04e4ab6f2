import type { Command } from 'commander';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { execInNetns } from '../../network/index.ts';
import { SERVICE_USER, netnsName } from '../../platform/names.ts';
import { RampartError } from '../../platform/errors.ts';
import type { ReplicaStatus } from '../../server/control-plane.ts';
import { ApiClient } from '../client.ts';
import { contextOf } from '../context.ts';

async function namespaceOf(stateDir: string, environment: string, service: string): Promise<string> {
  try {
    const { replicas } = await ApiClient.connect(stateDir).get<{ replicas: ReplicaStatus[] }>(
      '/v1/replicas',
      { environment },
    );
    const found = [...new Set(replicas.filter((r) => r.service === service).map((r) => r.namespace))];
    if (found.length === 1) return found[0]!;
    if (found.length > 1) {
      throw new RampartError(
        'RAMPART_E_BAD_REQUEST',
        `service ${service} runs in namespaces ${found.join(', ')}`,
        { field: '-n', fix: 'pass -n <namespace>' },
      );
    }
  } catch (error) {
    if (error instanceof RampartError && error.code === 'RAMPART_E_BAD_REQUEST') throw error;
  }
  return environment;
}

export function registerExec(program: Command): void {
  program
    .command('exec <service> <command...>')
    .description(
      "run a command inside a replica's network namespace, as the service user (`rampart exec web -- curl api:8080`)",
    )
    .option('-n, --namespace <namespace>', 'namespace of the service (default: the one it runs in)')
    .option('--replica <i>', 'replica index', '0')
    .option('--root', 'run as root instead of the service user (diagnostics)')
    .action(
      async (
        service: string,
        command: string[],
        opts: { namespace?: string; replica: string; root?: boolean },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        const namespace = opts.namespace ?? (await namespaceOf(ctx.stateDir, ctx.environment, service));
        const netns = netnsName(ctx.environment, namespace, service, Number(opts.replica));
        if (!existsSync(`/run/netns/${netns}`)) {
          throw new RampartError(
            'RAMPART_E_NOT_FOUND',
            `no replica ${namespace}/${service}-${opts.replica} in environment ${ctx.environment} (no network namespace ${netns})`,
          );
        }
        const argv = execInNetns(netns, command, opts.root ? {} : { user: SERVICE_USER });
        const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
        const code = await new Promise<number>((resolve) =>
          child.on('exit', (c, s) => resolve(c ?? (s ? 128 : 1))),
        );
        process.exitCode = code;
      },
    );
}
