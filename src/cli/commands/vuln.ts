import type { Command } from 'commander';
import { resolve } from 'node:path';
import { RampartError } from '../../platform/errors.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';
import { formatTime, table } from '../output.ts';
import type { Finding, FindingRecord } from '../../vuln/index.ts';

const SEVERITY_ORDER = ['critical', 'high', 'moderate', 'low', 'unknown'];

function findingRows(findings: readonly Finding[]): string[][] {
  return findings.map((f) => [
    f.severity,
    `${f.package}@${f.version}`,
    f.advisory,
    f.aliases.join(',') || '-',
    f.fixedVersion ?? 'no fix',
    f.production ? 'prod' : 'dev',
    String(f.loaded),
    f.paths.join(' '),
  ]);
}

export function registerVuln(program: Command): void {
  const vuln = program
    .command('vuln')
    .description('vulnerabilities: SBOM of what runs, OSV advisories, findings and their fix timeline');

  vuln
    .command('scan [path]')
    .description('scan a folder or lockfile against OSV advisories, offline (no daemon needed)')
    .option(
      '--advisories <dir|zip>',
      'OSV records: a folder of .json files or all.zip (env RAMPART_ADVISORIES)',
    )
    .option('--sbom', 'print the CycloneDX 1.6 SBOM (with the findings as vulnerabilities) instead')
    .option(
      '--fail-on <severity>',
      'exit 1 when a finding is at least this severe (critical, high, moderate, low)',
    )
    .option('--json', 'machine-readable output')
    .action(
      async (
        path: string | undefined,
        o: { advisories?: string; sbom?: boolean; failOn?: string },
        cmd: Command,
      ) => {
        const ctx = contextOf(cmd);
        const advisories = o.advisories ?? process.env.RAMPART_ADVISORIES;
        if (!advisories) {
          throw new RampartError('RAMPART_E_BAD_REQUEST', 'no advisory source given', {
            field: '--advisories',
            fix: 'pass --advisories <folder of OSV .json files | all.zip>, or set RAMPART_ADVISORIES',
          });
        }
        if (o.failOn !== undefined && !SEVERITY_ORDER.slice(0, 4).includes(o.failOn)) {
          throw new RampartError('RAMPART_E_BAD_REQUEST', `unknown severity '${o.failOn}'`, {
            field: '--fail-on',
            fix: 'use critical, high, moderate or low',
          });
        }
        const { renderCycloneDx, scanPath } = await import('../../vuln/index.ts');
        const result = await scanPath(resolve(path ?? '.'), resolve(advisories));
        if (o.sbom) {
          print(
            JSON.stringify(
              renderCycloneDx(result.inventory, {
                findings: result.findings,
                timestamp: new Date().toISOString(),
              }),
              null,
              2,
            ),
          );
        } else if (ctx.json) {
          print(
            JSON.stringify(
              {
                lockfile: result.inventory.lockfile,
                format: result.inventory.format,
                packages: result.inventory.packages.length,
                advisories: result.advisories,
                findings: result.findings,
              },
              null,
              2,
            ),
          );
        } else {
          print(
            `${result.inventory.lockfile} (${result.inventory.format}): ${result.inventory.packages.length} packages; ` +
              `${result.advisories.indexed} advisories (${result.advisories.withdrawn} withdrawn ignored); ${result.findings.length} findings`,
          );
          for (const p of result.advisories.problems) print(`warning: ${p.file}: ${p.message}`);
          if (result.findings.length > 0)
            print(
              table(
                ['SEVERITY', 'PACKAGE', 'ADVISORY', 'ALIASES', 'FIXED', 'DEP', 'LOADED', 'PATHS'],
                findingRows(result.findings),
              ),
            );
        }
        if (o.failOn !== undefined) {
          const limit = SEVERITY_ORDER.indexOf(o.failOn);
          if (result.findings.some((f) => SEVERITY_ORDER.indexOf(f.severity) <= limit)) process.exitCode = 1;
        }
      },
    );

  vuln
    .command('ls')
    .description("findings of the environment's running releases")
    .option('--state <state>', 'only open, triggered, deployed or resolved findings')
    .option('--json', 'machine-readable output')
    .action(async (o: { state?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const res = await ApiClient.connect(ctx.stateDir).get<{
        findings: FindingRecord[];
        releases: { service: string; lockfile?: string; packages?: number; error?: string }[];
        advisories: { source: string | null; count: number };
      }>('/v1/vuln/findings', { environment: ctx.environment, state: o.state });
      if (ctx.json) return print(JSON.stringify(res, null, 2));
      if (!res.advisories.source)
        print('note: the daemon has no advisory source (set RAMPART_ADVISORIES where it runs)');
      for (const r of res.releases) if (r.error) print(`warning: ${r.service}: ${r.error}`);
      print(
        table(
          ['ID', 'SERVICE', 'STATE', 'SEVERITY', 'PACKAGE', 'ADVISORY', 'FIXED', 'LOADED', 'SINCE'],
          res.findings.map((f) => [
            f.id,
            f.service,
            f.state,
            f.severity,
            f.current.length ? f.current.map((c) => `${c.package}@${c.version}`).join(',') : f.package,
            f.advisory,
            f.fixedVersion ?? 'no fix',
            f.current.length ? String(f.current[0]!.loaded) : '-',
            formatTime(f.timeline[0]?.at ?? 0),
          ]),
        ),
      );
    });

  vuln
    .command('show <id>')
    .description('one finding: packages, install paths, advisory, evidence and its timeline')
    .option('--json', 'machine-readable output')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const ctx = contextOf(cmd);
      const { finding: f } = await ApiClient.connect(ctx.stateDir).get<{ finding: FindingRecord }>(
        `/v1/vuln/findings/${encodeURIComponent(id)}`,
      );
      if (ctx.json) return print(JSON.stringify(f, null, 2));
      print(`${f.id}  ${f.environment}/${f.service}  ${f.state}`);
      print(
        `${f.severity} ${f.advisory}${f.aliases.length ? ` (${f.aliases.join(', ')})` : ''}: ${f.summary}`,
      );
      print(`package ${f.package}, fixed in ${f.fixedVersion ?? '(no fix published)'}`);
      for (const c of f.current) {
        print(`  ${c.package}@${c.version} ${c.production ? 'production' : 'dev'}, loaded: ${c.loaded}`);
        for (const p of c.paths) print(`    ${p}`);
        print(`    evidence: ${c.evidence}`);
      }
      if (f.decision) print(`response: ${f.decision.action} (${f.decision.reason})`);
      print('timeline:');
      for (const t of f.timeline) print(`  ${formatTime(t.at)}  ${t.event.padEnd(14)} ${t.detail}`);
    });
}
