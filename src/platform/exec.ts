import { spawn } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { RampartError } from './errors.ts';

export interface ExecOptions {
  /** Data written to the child's stdin, then closed. */
  input?: string;
  /** Do not throw on a non-zero exit; return the result instead. */
  allowFailure?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
}

export interface ExecResult {
  argv: readonly string[];
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * The one seam through which Rampart runs `ip`, `nft`, `conntrack`, `initdb`, `useradd`… It is
 * injected everywhere, so unit tests can record the exact argv and the errors can name the binary.
 * Two long-lived kinds sit beside it in this module: `SpawnStreaming` (a command whose output is
 * read for hours: `conntrack -E`) and `SpawnInteractive` (commands written to one child's stdin:
 * `nft -j -i`). Service replicas are the runtime's business (src/runtime/process.ts).
 */
export type Exec = (argv: readonly string[], options?: ExecOptions) => Promise<ExecResult>;

/** Debian package that provides each binary, for error hints and `rampart doctor --fix`. */
export const PACKAGE_OF: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  nft: 'nftables',
  conntrack: 'conntrack',
  setpriv: 'util-linux',
  useradd: 'passwd',
  sysctl: 'procps',
  initdb: 'postgresql-15',
  pg_ctl: 'postgresql-15',
};

export const realExec: Exec = (argv, options = {}) =>
  new Promise((resolve, reject) => {
    const [file, ...args] = argv;
    if (file === undefined) throw new TypeError('exec: empty argv');
    const child = spawn(file, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
      timeout: options.timeoutMs,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') {
        const pkg = PACKAGE_OF[file];
        reject(
          new RampartError('RAMPART_E_MISSING_TOOL', `${file}: not found. Is it installed on your system?`, {
            binary: file,
            fix: pkg ? `apt-get install ${pkg} (or rampart doctor --fix)` : undefined,
          }),
        );
      } else reject(e);
    });
    child.on('close', (code, signal) => {
      const result: ExecResult = {
        argv,
        code: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      };
      if (result.code !== 0 && !options.allowFailure) {
        reject(
          new RampartError(
            'RAMPART_E_EXEC_FAILED',
            `${argv.join(' ')} exited with ${result.code}${signal ? ` (${signal})` : ''}: ${result.stderr.trim() || result.stdout.trim()}`,
            { binary: file, code: result.code },
          ),
        );
      } else resolve(result);
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });

/** An Exec that records every call and answers from a script: for unit tests of appliers. */
export function recordingExec(
  answer: (argv: readonly string[]) => Partial<ExecResult> | undefined = () => undefined,
): Exec & { calls: { argv: readonly string[]; input?: string }[] } {
  const calls: { argv: readonly string[]; input?: string }[] = [];
  const exec = (async (argv: readonly string[], options: ExecOptions = {}) => {
    calls.push({ argv, input: options.input });
    const a = answer(argv) ?? {};
    const result = { argv, code: a.code ?? 0, stdout: a.stdout ?? '', stderr: a.stderr ?? '' };
    if (result.code !== 0 && !options.allowFailure) {
      throw new RampartError('RAMPART_E_EXEC_FAILED', `${argv.join(' ')} exited with ${result.code}`);
    }
    return result;
  }) as Exec & { calls: typeof calls };
  exec.calls = calls;
  return exec;
}

/**
 * The streaming counterpart of `Exec`: `Exec` runs a command to completion, a flow source reads a
 * command's output for hours. Tests pass a fake that replays fixtures.
 */
export interface StreamingChild {
  stdout: Readable;
  stderr: Readable;
  kill(signal?: NodeJS.Signals): boolean;
  once(event: 'exit', listener: (code: number | null, signal: NodeJS.Signals | null) => void): unknown;
  once(event: 'error', listener: (error: NodeJS.ErrnoException) => void): unknown;
}
export type SpawnStreaming = (argv: readonly string[]) => StreamingChild;

export const realSpawnStreaming: SpawnStreaming = (argv) => {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('spawn: empty argv');
  return spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
};

/**
 * The interactive counterpart of `Exec`: a session writes commands to one long-lived child's stdin
 * and reads its answers. Tests pass a fake.
 */
export interface InteractiveChild extends StreamingChild {
  stdin: Writable;
}
export type SpawnInteractive = (argv: readonly string[]) => InteractiveChild;

export const realSpawnInteractive: SpawnInteractive = (argv) => {
  const [file, ...args] = argv;
  if (file === undefined) throw new TypeError('spawn: empty argv');
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  // An idle session never keeps the daemon (or a test) alive: a pending command's timer does.
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as Partial<Socket> | null)?.unref?.();
  return child;
};
