import { spawn } from 'node:child_process';
import { openSync, closeSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** A process the supervisor watches: one it spawned, or one it re-adopted after a daemon restart. */
export interface WatchedProcess {
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, it names one process for its whole life. */
  readonly startTime: number;
  /** Resolves when the process is gone. */
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  /** Signal the whole process group (the service and its children). */
  kill(signal: NodeJS.Signals): void;
}

export interface SpawnSpec {
  argv: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string>>;
  /** stdout and stderr are appended here, so the service never writes into a pipe the daemon owns. */
  stdoutFile: string;
  stderrFile: string;
}

/** Reads the start time of `pid`, or undefined if it is gone or a zombie. */
export function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    const start = Number(rest[19]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number, startTime: number): boolean {
  return processStartTime(pid) === startTime;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Starts a detached process (its own session and process group) writing to files. It outlives the
 * daemon: a restarted daemon adopts it with `adoptProcess` instead of restarting it.
 */
export function spawnDetached(spec: SpawnSpec): Promise<WatchedProcess> {
  mkdirSync(dirname(spec.stdoutFile), { recursive: true });
  const out = openSync(spec.stdoutFile, 'a', 0o640);
  const err = openSync(spec.stderrFile, 'a', 0o640);
  const [file, ...args] = spec.argv;
  if (file === undefined) throw new TypeError('spawnDetached: empty argv');
  try {
    const child = spawn(file, args, {
      cwd: spec.cwd,
      env: spec.env,
      detached: true,
      stdio: ['ignore', out, err],
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => {
        const pid = child.pid as number;
        const exited = new Promise<{ code: number | null; signal: string | null }>((done) => {
          child.once('exit', (code, signal) => done({ code, signal }));
        });
        resolve({
          pid,
          startTime: processStartTime(pid) ?? 0,
          exited,
          kill: (signal) => killGroup(pid, signal),
        });
      });
    });
  } finally {
    closeSync(out);
    closeSync(err);
  }
}

/**
 * Watches a process this daemon did not spawn (no SIGCHLD reaches us): polls /proc. Returns
 * undefined when the recorded process is gone or the pid now belongs to someone else.
 */
export function adoptProcess(pid: number, startTime: number, pollMs = 250): WatchedProcess | undefined {
  if (!isAlive(pid, startTime)) return undefined;
  const exited = new Promise<{ code: number | null; signal: string | null }>((done) => {
    const timer = setInterval(() => {
      if (!isAlive(pid, startTime)) {
        clearInterval(timer);
        done({ code: null, signal: null });
      }
    }, pollMs);
  });
  return { pid, startTime, exited, kill: (signal) => killGroup(pid, signal) };
}
