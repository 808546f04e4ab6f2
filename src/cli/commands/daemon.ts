import type { Command } from 'commander';
import { resolveDaemonConfig } from '../../config/index.ts';
import { startDaemon } from '../../server/serve.ts';
import { contextOf, print } from '../context.ts';

export function registerDaemon(program: Command): void {
  program
    .command('daemon')
    .description(
      'run the control plane in the foreground (`rampart up` starts it in the background when needed)',
    )
    .option('--port <port>', 'API port on 127.0.0.1 (0: any free port)')
    .action(async (opts: { port?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const config = resolveDaemonConfig({
        ...process.env,
        RAMPART_HOME: ctx.stateDir,
        ...(opts.port ? { RAMPART_PORT: opts.port } : {}),
      });
      const daemon = await startDaemon(config);
      print(`rampart daemon: API ${daemon.url}, state ${config.stateDir}, pid ${process.pid}`);
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          print('rampart daemon: stopping (replicas keep running; the next daemon adopts them)');
          void daemon.close().then(resolve, resolve);
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });
}
