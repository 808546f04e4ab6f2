import { Command, CommanderError } from 'commander';
import { isRampartError } from '../platform/errors.ts';
import { registerConfig } from './commands/config.ts';
import { registerDaemon } from './commands/daemon.ts';
import { registerDeploy } from './commands/deploy.ts';
import { registerEnv } from './commands/env.ts';
import { registerHistory } from './commands/history.ts';
import { registerRollback } from './commands/rollback.ts';
import { registerDoctor } from './commands/doctor.ts';
import { registerDown } from './commands/down.ts';
import { registerExec } from './commands/exec.ts';
import { registerFirewall } from './commands/firewall.ts';
import { registerPolicy } from './commands/policy.ts';
import { registerLogs } from './commands/logs.ts';
import { registerMap } from './commands/map.ts';
import { registerMetrics } from './commands/metrics.ts';
import { registerPs } from './commands/ps.ts';
import { registerRestart } from './commands/restart.ts';
import { registerTrace } from './commands/trace.ts';
import { registerTraces } from './commands/traces.ts';
import { registerToken } from './commands/token.ts';
import { registerUp } from './commands/up.ts';
import { registerVuln } from './commands/vuln.ts';
import { formatError } from './output.ts';

/** argv -> library calls; the only place that decides exit codes. */
export async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('rampart')
    .description('Run a stack of microservices in network namespaces on this host, and keep them safe')
    .option('--state-dir <dir>', 'state directory (env RAMPART_HOME)', undefined)
    .option('-e, --env <name>', 'environment (env RAMPART_ENV)', undefined)
    .showHelpAfterError()
    .exitOverride();
  for (const register of [
    registerUp,
    registerDown,
    registerPs,
    registerLogs,
    registerExec,
    registerRestart,
    registerConfig,
    registerDoctor,
    registerDaemon,
    registerPolicy,
    registerFirewall,
    registerTraces,
    registerTrace,
    registerMap,
    registerMetrics,
    registerToken,
    registerVuln,
    registerDeploy,
    registerRollback,
    registerHistory,
    registerEnv,
  ]) {
    register(program);
  }
  try {
    await program.parseAsync(argv as string[]);
  } catch (error) {
    if (error instanceof CommanderError) {
      process.exitCode = error.exitCode;
      return;
    }
    if (isRampartError(error)) {
      process.stderr.write(`${formatError(error)}\n`);
      process.exitCode = error.exitCode;
      return;
    }
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  }
}
