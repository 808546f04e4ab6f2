import type { Command } from 'commander';
import type { SpanRecord } from '../../observe/index.ts';
import { ApiClient } from '../client.ts';
import { contextOf, print } from '../context.ts';

export function registerTrace(program: Command): void {
  program
    .command('trace <traceId>')
    .description('show one trace as a waterfall: every span across services, on one time line')
    .option('--width <columns>', 'width of the waterfall (default: the terminal)')
    .option('--json', 'the spans as JSON')
    .action(async (traceId: string, opts: { width?: string }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const width = opts.width ?? String(Math.min(Math.max(process.stdout.columns ?? 100, 40), 400));
      const trace = await ApiClient.connect(ctx.stateDir).get<{
        traceId: string;
        spans: SpanRecord[];
        waterfall: string;
      }>(`/v1/observe/traces/${encodeURIComponent(traceId)}`, { width });
      if (ctx.json) return print(JSON.stringify(trace.spans, null, 2));
      print(trace.waterfall.replace(/\n$/, ''));
    });
}
