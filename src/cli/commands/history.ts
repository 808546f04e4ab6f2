import type { Command } from 'commander';
import type { DeployRecord } from '../../delivery/index.ts';
import { contextOf, print } from '../context.ts';
import { deliveryClient, withRemote, type RemoteOptions } from './deploy.ts';

export function formatHistory(deploys: readonly DeployRecord[]): string[] {
  const rows = deploys.map((d) => [
    new Date(d.time).toISOString().replace('T', ' ').slice(0, 19),
    d.kind,
    d.services.map((s) => `${s.service} ${s.from ?? '-'}→${s.to ?? '-'}`).join(', ') || '-',
    `${d.actor} (${d.via})`,
    d.outcome,
    d.message,
  ]);
  const head = ['TIME (UTC)', 'WHAT', 'RELEASES', 'WHO', 'OUTCOME', 'DETAIL'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) =>
    r
      .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}

export function registerHistory(program: Command): void {
  withRemote(
    program
      .command('history [service]')
      .description('deploys, rollbacks and environment creations: when, who/what, releases, outcome'),
  ).action(async (service: string | undefined, opts: RemoteOptions, cmd: Command) => {
    const ctx = contextOf(cmd);
    const client = await deliveryClient(ctx, opts);
    const { deploys } = await client.get<{ deploys: DeployRecord[] }>(
      `/v1/environments/${ctx.environment}/history`,
      { service },
    );
    if (ctx.json) return print(JSON.stringify(deploys));
    if (deploys.length === 0) return print(`no deploys in environment ${ctx.environment}`);
    for (const line of formatHistory(deploys)) print(line);
  });
}
