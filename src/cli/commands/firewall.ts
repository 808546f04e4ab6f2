import type { Command } from 'commander';
import { formatAlert, isFirewallMode, type Alert, type FirewallModes } from '../../firewall/index.ts';
import { RampartError } from '../../platform/errors.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';

export function registerFirewall(program: Command): void {
  const fw = program
    .command('firewall')
    .description('firewall modes (learn, monitor, protect) and learning coverage');

  fw.command('mode <mode> [services...]')
    .description('set the mode globally, or for the named services (<service> or <namespace>/<service>)')
    .option('--json', 'machine-readable output')
    .action(async (mode: string, services: string[], _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (!isFirewallMode(mode)) {
        throw new RampartError('RAMPART_E_BAD_REQUEST', `unknown firewall mode '${mode}'`, {
          field: 'mode',
          fix: 'use learn, monitor or protect',
        });
      }
      const { modes } = await ApiClient.connect(ctx.stateDir).post<{ modes: FirewallModes }>(
        '/v1/firewall/mode',
        {
          environment: ctx.environment,
          mode,
          services,
        },
      );
      if (ctx.json) return print(JSON.stringify(modes, null, 2));
      print(`global: ${modes.global}`);
      for (const [s, m] of Object.entries(modes.perService)) print(`${s}: ${m}`);
    });

  fw.command('status')
    .description('modes, learning coverage per service, unused rules')
    .option('--json', 'machine-readable output')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const r = await ApiClient.connect(ctx.stateDir).get<{
        modes: FirewallModes;
        coverageText: string;
        rules: { rule: string; hits: number }[];
      }>('/v1/firewall', { environment: ctx.environment });
      if (ctx.json) return print(JSON.stringify(r, null, 2));
      print(
        `mode: ${r.modes.global}${Object.entries(r.modes.perService)
          .map(([s, m]) => `, ${s}=${m}`)
          .join('')}`,
      );
      print('');
      print(r.coverageText.trimEnd());
    });

  program
    .command('alerts')
    .description('flows outside policy and unusual behaviour, grouped with counts')
    .option('-f, --follow', 'keep printing new and growing alerts')
    .option('--json', 'one JSON object per line')
    .action(async (opts: { follow?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = ApiClient.connect(ctx.stateDir);
      if (!opts.follow) {
        const { alerts } = await client.get<{ alerts: Alert[] }>('/v1/alerts', {
          environment: ctx.environment,
        });
        for (const a of [...alerts].reverse()) print(ctx.json ? JSON.stringify(a) : formatAlert(a));
        return;
      }
      const abort = new AbortController();
      process.once('SIGINT', () => abort.abort());
      await client.stream(
        'GET',
        '/v1/alerts',
        { query: { environment: ctx.environment, follow: 'true' }, signal: abort.signal },
        (item) => {
          const a = item.alert as Alert;
          print(ctx.json ? JSON.stringify(item) : formatAlert(a));
        },
      );
    });

  const compliance = program
    .command('compliance')
    .description('data-protection rules: which data classes can reach each service');
  compliance
    .command('report')
    .description('the proof per service: classes reachable, rules, evidence paths (Markdown, or --json)')
    .option('--json', 'JSON instead of Markdown')
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const client = ApiClient.connect(ctx.stateDir);
      if (ctx.json)
        print(JSON.stringify(await client.get('/v1/compliance', { environment: ctx.environment }), null, 2));
      else
        process.stdout.write(
          await client.text('/v1/compliance', { environment: ctx.environment, format: 'markdown' }),
        );
    });
}
