import { createReadStream, existsSync, statSync } from 'node:fs';
import { appendFile, readFile, writeFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { Clock } from '../platform/clock.ts';

export interface LogLine {
  time: number;
  environment: string;
  namespace: string;
  service: string;
  replica: number;
  stream: 'stdout' | 'stderr';
  message: string;
}

export interface LogSource {
  environment: string;
  namespace: string;
  service: string;
  index: number;
  stdoutFile: string;
  stderrFile: string;
}

export interface LogQuery {
  environment: string;
  namespace?: string;
  service?: string;
  sinceTime?: number;
  /** The newest `tail` lines. */
  tail?: number;
}

const journalOf = (s: LogSource): string => s.stdoutFile.replace(/\.out\.log$/, '.journal.jsonl');
const offsetsOf = (s: LogSource): string => s.stdoutFile.replace(/\.out\.log$/, '.offsets.json');

interface Offsets {
  stdout: number;
  stderr: number;
}

interface Watched {
  source: LogSource;
  timer: NodeJS.Timeout;
  busy: boolean;
  /** Read from the offsets file at the first poll, then kept here and written when they move. */
  offsets?: Offsets;
}

/**
 * Replicas write plain stdout/stderr files (no pipe to the daemon, so a daemon restart cannot break
 * them). The journal tails those files and appends each line with the time it was seen to a JSONL
 * journal, remembering its offsets so a restarted daemon resumes where it stopped.
 */
export class LogJournal {
  private readonly sources = new Map<string, Watched>();
  private readonly listeners = new Set<(line: LogLine) => void>();

  constructor(private readonly opts: { clock: Clock; pollMs?: number }) {}

  watch(source: LogSource): void {
    const key = journalOf(source);
    if (this.sources.has(key)) return;
    const entry: Watched = {
      source,
      busy: false,
      timer: setInterval(() => void this.poll(key), this.opts.pollMs ?? 200),
    };
    entry.timer.unref();
    this.sources.set(key, entry);
  }

  /** Reads what is left, then stops tailing. */
  async unwatch(source: LogSource): Promise<void> {
    const key = journalOf(source);
    const entry = this.sources.get(key);
    if (!entry) return;
    clearInterval(entry.timer);
    await this.poll(key, true);
    this.sources.delete(key);
  }

  close(): void {
    for (const e of this.sources.values()) clearInterval(e.timer);
    this.sources.clear();
  }

  onLine(listener: (line: LogLine) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async query(q: LogQuery, sources: readonly LogSource[]): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    for (const s of sources) {
      if (s.environment !== q.environment) continue;
      if (q.namespace && s.namespace !== q.namespace) continue;
      if (q.service && s.service !== q.service) continue;
      const file = journalOf(s);
      if (!existsSync(file)) continue;
      const rl = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
      for await (const text of rl) {
        if (!text) continue;
        const line = JSON.parse(text) as LogLine;
        if (q.sinceTime !== undefined && line.time < q.sinceTime) continue;
        lines.push(line);
      }
    }
    lines.sort((a, b) => a.time - b.time);
    return q.tail !== undefined ? lines.slice(-q.tail) : lines;
  }

  private async poll(key: string, final = false): Promise<void> {
    const entry = this.sources.get(key);
    if (!entry || (entry.busy && !final)) return;
    entry.busy = true;
    try {
      const s = entry.source;
      // Every 200 ms for every replica: a quiet poll is two stat calls, nothing is opened or written.
      entry.offsets ??= await readFile(offsetsOf(s), 'utf8').then(
        (t) => JSON.parse(t) as Offsets,
        () => ({ stdout: 0, stderr: 0 }),
      );
      const before = entry.offsets;
      // Moved on a copy: a failed append leaves the lines to be read again.
      const offsets = { ...before };
      const out: LogLine[] = [];
      for (const stream of ['stdout', 'stderr'] as const) {
        const file = stream === 'stdout' ? s.stdoutFile : s.stderrFile;
        const size = statSync(file, { throwIfNoEntry: false })?.size;
        if (size === undefined) continue;
        // A file smaller than our offset was truncated or replaced: start over.
        if (size < offsets[stream]) offsets[stream] = 0;
        if (size === offsets[stream]) continue;
        const buf = await readChunk(file, offsets[stream], size);
        const lastNewline = buf.lastIndexOf(10);
        if (lastNewline < 0 && !final) continue;
        const upto = final && lastNewline < buf.length - 1 ? buf.length : lastNewline + 1;
        offsets[stream] += upto;
        const now = this.opts.clock.now();
        for (const message of buf.subarray(0, upto).toString('utf8').split('\n')) {
          if (message === '') continue;
          out.push({
            time: now,
            environment: s.environment,
            namespace: s.namespace,
            service: s.service,
            replica: s.index,
            stream,
            message,
          });
        }
      }
      if (out.length > 0) {
        await appendFile(journalOf(s), out.map((l) => JSON.stringify(l)).join('\n') + '\n');
        for (const line of out) for (const l of this.listeners) l(line);
      }
      if (offsets.stdout !== before.stdout || offsets.stderr !== before.stderr) {
        await writeFile(offsetsOf(s), JSON.stringify(offsets));
        entry.offsets = offsets;
      }
    } catch {
      // A replica's files can vanish under us during `down`; the next poll or nothing.
    } finally {
      entry.busy = false;
    }
  }
}

async function readChunk(file: string, start: number, end: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of createReadStream(file, { start, end: end - 1 })) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
