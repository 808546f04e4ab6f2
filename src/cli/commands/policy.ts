import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { StoredPolicy } from '../../firewall/index.ts';
import { RampartError } from '../../platform/errors.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { table } from '../output.ts';

async function readPolicyFile(file: string): Promise<{ text: string; file: string }> {
  const path = resolve(file);
  try {
    return { text: await readFile(path, 'utf8'), file: path };
  } catch {
    throw new RampartError('RAMPART_E_NOT_FOUND', `cannot read ${path}`, {
      file: path,
      fix: 'pass an existing YAML file with -f',
    });
  }
}

function splitName(name: string, defaultNamespace: string): [string, string] {
  return name.includes('/') ? (name.split('/', 2) as [string, string]) : [defaultNamespace, name];
}

/** `rampart policy …`: Kubernetes NetworkPolicies, kubectl-style. */
export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description('NetworkPolicies (networking.k8s.io/v1): apply, ls, get, delete, propose, diff, test');

  policy
    .command('apply')
    .description('apply NetworkPolicies from a YAML file (refused when a data-protection rule would break)')
    .requiredOption('-f, --file <file>', 'YAML with one or more NetworkPolicy documents')
    .option('--json', 'machine-readable output')
    .action(async (opts: { file: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const body = await readPolicyFile(opts.file);
      const r = await ApiClient.connect(ctx.stateDir).post<{ applied: string[]; unchanged: string[] }>(
        '/v1/policies',
        {
          environment: ctx.environment,
          ...body,
        },
      );
      if (ctx.json) return print(JSON.stringify(r, null, 2));
      for (const n of r.applied) print(`networkpolicy ${n} configured`);
      for (const n of r.unchanged) print(`networkpolicy ${n} unchanged`);
    });

  policy
    .command('ls')
    .description('list the policies in force')
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { policies } = await ApiClient.connect(ctx.stateDir).get<{
        policies: {
          namespace: string;
          name: string;
          source: StoredPolicy['source'];
          appliedAt: number;
          policy: StoredPolicy['policy'];
        }[];
      }>('/v1/policies', { environment: ctx.environment });
      if (ctx.json) return print(JSON.stringify(policies, null, 2));
      print(
        table(
          ['NAMESPACE', 'NAME', 'POD-SELECTOR', 'TYPES', 'SOURCE'],
          policies.map((p) => [
            p.namespace,
            p.name,
            JSON.stringify(p.policy.spec.podSelector.matchLabels ?? p.policy.spec.podSelector),
            (p.policy.spec.policyTypes ?? ['Ingress']).join(','),
            p.source.kind === 'file' ? p.source.file : 'api',
          ]),
        ),
      );
    });

  policy
    .command('get <name>')
    .description('print a policy (<namespace>/<name>, or <name> in the environment namespace)')
    .option('-o, --output <format>', 'yaml', 'yaml')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const [ns, n] = splitName(name, ctx.environment);
      process.stdout.write(
        await ApiClient.connect(ctx.stateDir).text(`/v1/policies/${ns}/${n}`, {
          environment: ctx.environment,
        }),
      );
    });

  policy
    .command('delete <name>')
    .description('delete a policy (refused when a data-protection rule would break)')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const [ns, n] = splitName(name, ctx.environment);
      await ApiClient.connect(ctx.stateDir).delete(`/v1/policies/${ns}/${n}`, {
        environment: ctx.environment,
      });
      print(`networkpolicy ${ns}/${n} deleted`);
    });

  policy
    .command('propose')
    .description(
      'write the minimal NetworkPolicies that allow exactly the learned flows (YAML with evidence comments)',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      process.stdout.write(
        await ApiClient.connect(ctx.stateDir).text('/v1/policies/propose', { environment: ctx.environment }),
      );
    });

  policy
    .command('diff')
    .description('what the proposal would change against the policies in force')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      process.stdout.write(
        await ApiClient.connect(ctx.stateDir).text('/v1/policies/diff', { environment: ctx.environment }),
      );
    });

  policy
    .command('test')
    .description('replay the recorded flows against candidate policies and list what would be blocked')
    .requiredOption('-f, --file <file>', 'candidate policies (YAML)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { file: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const body = await readPolicyFile(opts.file);
      const r = await ApiClient.connect(ctx.stateDir).post<{ report: { blocked: number }; text: string }>(
        '/v1/policies/test',
        {
          environment: ctx.environment,
          ...body,
        },
      );
      if (ctx.json) print(JSON.stringify(r.report, null, 2));
      else process.stdout.write(r.text.endsWith('\n') ? r.text : `${r.text}\n`);
      if (r.report.blocked > 0) process.exitCode = 1;
    });
}
