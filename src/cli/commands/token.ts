import type { Command } from 'commander';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';

interface TokenRecord {
  id: string;
  name: string;
  role: string;
  environments: string[] | '*';
  createdAt: number;
  createdBy: string;
  lastUsedAt?: number;
}

const when = (ms: number | undefined): string => (ms ? new Date(ms).toISOString().slice(0, 19) + 'Z' : '-');

/** `rampart token create|ls|revoke`: named API tokens with a role (admin only). */
export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description('API tokens with a role: admin, operator, viewer, or deployer scoped to environments');

  token
    .command('create <name>')
    .description('create a token; it is printed once and stored only as a hash')
    .requiredOption('--role <role>', 'admin | operator | viewer | deployer')
    .option(
      '--environments <list>',
      'comma-separated environments a deployer token may deploy to (default: the -e/--env given)',
    )
    .option('--json', 'machine-readable output')
    .action(async (name: string, o: { role: string; environments?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      // -e/--env is the global option; for a deployer it names the one environment it may deploy to.
      const explicitEnv = cmd.optsWithGlobals<{ env?: string }>().env;
      const environments =
        o.environments?.split(',').filter(Boolean) ??
        (o.role === 'deployer' && explicitEnv ? [explicitEnv] : undefined);
      const res = await ApiClient.connect(ctx.stateDir).post<{ token: string; record: TokenRecord }>(
        '/v1/tokens',
        { name, role: o.role, ...(environments ? { environments } : {}) },
      );
      if (ctx.json) return print(JSON.stringify(res, null, 2));
      print(res.token);
      process.stderr.write(
        `token ${res.record.name} (${res.record.role}${
          res.record.environments === '*' ? '' : ` for ${res.record.environments.join(', ')}`
        }): store it now, it is not shown again\n`,
      );
    });

  token
    .command('ls')
    .description('list tokens (never their secrets)')
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { tokens } = await ApiClient.connect(ctx.stateDir).get<{ tokens: TokenRecord[] }>('/v1/tokens');
      if (ctx.json) return print(JSON.stringify(tokens, null, 2));
      print(['NAME', 'ROLE', 'ENVIRONMENTS', 'CREATED', 'LAST USED'].join('\t'));
      for (const t of tokens) {
        const envs = t.environments === '*' ? '*' : t.environments.join(',');
        print([t.name, t.role, envs, when(t.createdAt), when(t.lastUsedAt)].join('\t'));
      }
    });

  token
    .command('revoke <name-or-id>')
    .description('revoke a token; it stops working on its next request')
    .action(async (nameOrId: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { revoked } = await ApiClient.connect(ctx.stateDir).delete<{ revoked: TokenRecord }>(
        `/v1/tokens/${encodeURIComponent(nameOrId)}`,
      );
      print(`revoked ${revoked.name}`);
    });
}
