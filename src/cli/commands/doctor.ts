import type { Command } from 'commander';
import { fixNativeContext, nativeContextRequirement } from '../../observe/native-context.ts';
import { realExec } from '../../platform/exec.ts';
import { createNetnsRuntime } from '../../runtime/index.ts';
import type { Requirement } from '../../runtime/index.ts';
import { contextOf, print } from '../context.ts';
import { table } from '../output.ts';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check every host requirement; with --fix (as root) install missing Debian packages')
    .option('--fix', 'install what is missing (apt-get, useradd)')
    .option('--json', 'machine-readable output')
    .action(async (opts: { fix?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const runtime = createNetnsRuntime({ exec: realExec });
      const native = await nativeContextRequirement(realExec);
      let checks: Requirement[] = [...(await runtime.check()), native];
      if (opts.fix && checks.some((c) => !c.ok)) {
        const log = (line: string) => !ctx.json && print(line);
        // The runtime's fix installs every missing package, g++ for the native module included.
        const fixed = await runtime.fix(checks, log);
        checks = [...fixed, native.ok ? native : await fixNativeContext(realExec, log)];
      }
      if (ctx.json) print(JSON.stringify(checks, null, 2));
      else
        print(
          table(
            ['', 'REQUIREMENT', 'DETAIL', 'FIX'],
            checks.map((c) => [c.ok ? 'ok' : 'MISSING', c.name, c.detail, c.ok ? '' : (c.fix ?? '')]),
          ),
        );
      if (checks.some((c) => !c.ok)) process.exitCode = 3;
    });
}
