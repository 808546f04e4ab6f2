import { RampartError } from '../platform/errors.ts';
import {
  PACKAGE_OF,
  realSpawnInteractive,
  type InteractiveChild,
  type SpawnInteractive,
} from '../platform/exec.ts';

/** `nft -j -i`: one JSON document per line on stdout for a listing, `Error: …` on stderr for a failure. */
export const NFT_SESSION_ARGV: readonly string[] = ['nft', '-j', '-i'];

export interface NftSessionOptions {
  spawn?: SpawnInteractive;
  /** A command not answered in this time kills the child (the next command starts another). @default 5000 */
  timeoutMs?: number;
}

interface Pending {
  resolve: (stdout: string) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
  /**
   * A transaction's pending check: errors of the transaction's line are collected here, and only
   * an error whose echoed command is the check itself answers.
   */
  check?: { command: string; errors: string[] };
}

/**
 * One long-lived `nft -j -i` for read-only listings (`list set …`): the alert poll reads `@denied`
 * four times a second, and a fresh `nft` process per read (exec, dynamic loading, netlink cache
 * set-up) costs far more CPU than the listing itself. nft re-reads the kernel's ruleset generation
 * before every command, so an answer is never stale. Commands run one at a time; a child that
 * exits or hangs is replaced on the next command. `run` takes listing commands only (each answers
 * exactly one stdout line or one `Error:` line); `transact` runs a one-line transaction followed by
 * a listing that shows its outcome.
 */
export class NftSession {
  #child: InteractiveChild | undefined;
  #pending: Pending | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  readonly #spawn: SpawnInteractive;
  readonly #timeoutMs: number;
  /** Children started so far (1 while healthy). */
  started = 0;

  constructor(opts: NftSessionOptions = {}) {
    this.#spawn = opts.spawn ?? realSpawnInteractive;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
  }

  /** The child's pid (for CPU accounting), if it runs. */
  get pid(): number | undefined {
    return (this.#child as { pid?: number } | undefined)?.pid;
  }

  /** Runs one listing command; resolves with its stdout line, rejects with nft's error message. */
  run(command: string): Promise<string> {
    const run = this.#queue.then(() => this.#run(command));
    this.#queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Runs `commands` as ONE line, hence one nft transaction (all or nothing), then the listing
   * `check`, whose answer tells what the kernel holds afterwards (nft -i prints nothing for a
   * transaction that succeeds). Resolves with the check's stdout and the transaction's errors.
   */
  transact(commands: readonly string[], check: string): Promise<{ stdout: string; errors: string[] }> {
    const run = this.#queue.then(async () => {
      const errors: string[] = [];
      const stdout = await this.#run(`${commands.join('; ')}\n${check}`, { command: check, errors });
      return { stdout, errors };
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #run(command: string, check?: Pending['check']): Promise<string> {
    const child = this.#child ?? this.#start();
    return new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#fail(
          new Error(`nft -i did not answer '${check?.command ?? command}' within ${this.#timeoutMs} ms`),
        );
        child.kill('SIGKILL');
      }, this.#timeoutMs);
      this.#pending = { resolve, reject, timer, ...(check && { check }) };
      child.stdin.write(`${command}\n`);
    });
  }

  #start(): InteractiveChild {
    const child = this.#spawn(NFT_SESSION_ARGV);
    this.started++;
    this.#child = child;
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      for (let i = out.indexOf('\n'); i >= 0; i = out.indexOf('\n')) {
        const line = out.slice(0, i);
        out = out.slice(i + 1);
        if (line.trim() !== '') this.#answer(line);
      }
    });
    let err = '';
    /** The `Error:` line whose echoed command comes next (a transaction's check waits for it). */
    let error: string | undefined;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      err += chunk;
      for (let i = err.indexOf('\n'); i >= 0; i = err.indexOf('\n')) {
        const line = err.slice(0, i);
        err = err.slice(i + 1);
        const check = this.#pending?.check;
        // nft prints the error, then the command, then a caret line under the culprit.
        if (line.startsWith('Error:')) {
          if (check) error = line;
          else this.#fail(new Error(line));
        } else if (error !== undefined && check) {
          if (line === check.command) this.#fail(new Error(error));
          else check.errors.push(error);
          error = undefined;
        }
      }
    });
    // A write after the child died must not crash the daemon: the exit handler rejects instead.
    child.stdin.on('error', () => {});
    const gone = (why: Error) => {
      if (this.#child === child) this.#child = undefined;
      this.#fail(why);
    };
    child.once('exit', (code, signal) => gone(new Error(`nft -i exited (${signal ?? code})`)));
    child.once('error', (e) =>
      gone(
        e.code === 'ENOENT'
          ? new RampartError('RAMPART_E_MISSING_TOOL', 'nft: not found. Is it installed on your system?', {
              binary: 'nft',
              fix: `apt-get install ${PACKAGE_OF.nft}`,
            })
          : e,
      ),
    );
    return child;
  }

  #answer(line: string): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.resolve(line);
  }

  #fail(error: Error): void {
    const p = this.#pending;
    if (!p) return;
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.reject(error);
  }

  /** Ends the child (a later command starts another: a manager closed at `down` may see `up` again). */
  close(): void {
    this.#fail(new Error('nft session closed'));
    this.#child?.stdin.end();
    this.#child?.kill('SIGTERM');
    this.#child = undefined;
  }
}
