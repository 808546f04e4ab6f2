import { RampartError } from '../platform/errors.ts';

/**
 * The lifecycle of one replica. Health is tracked beside it (`healthy`), because a running
 * process can be unhealthy and leave the service's virtual IP without being restarted.
 *
 * ```
 *   pending ──start──▶ starting ──spawned──▶ running ──exited──▶ backoff ──retry──▶ starting
 *      │                  │ spawnFailed─────────────────────────▲   │
 *      │                  └──────────────────────── exited ─────┘   │
 *      └────────── stop ──▶ stopping ──exited──▶ stopped ◀── stop ───┘
 *   failed: the spec itself cannot run (missing workdir, unknown user); `start` leaves it.
 * ```
 */
export type ReplicaState = 'pending' | 'starting' | 'running' | 'backoff' | 'stopping' | 'stopped' | 'failed';

export type ReplicaEvent =
  | { type: 'start' }
  | { type: 'spawned'; pid: number }
  | { type: 'spawnFailed'; reason: string }
  | { type: 'exited'; code: number | null; signal: string | null }
  | { type: 'retry' }
  | { type: 'stop' }
  | { type: 'fail'; reason: string };

const TABLE: Record<ReplicaState, Partial<Record<ReplicaEvent['type'], ReplicaState>>> = {
  pending: { start: 'starting', stop: 'stopped', fail: 'failed' },
  starting: {
    spawned: 'running',
    spawnFailed: 'backoff',
    exited: 'backoff',
    stop: 'stopping',
    fail: 'failed',
  },
  running: { exited: 'backoff', stop: 'stopping' },
  backoff: { retry: 'starting', stop: 'stopped', fail: 'failed' },
  stopping: { exited: 'stopped', stop: 'stopping' },
  stopped: { start: 'starting', stop: 'stopped' },
  failed: { start: 'starting', stop: 'failed' },
};

/** Pure: the state after `event`, or a RAMPART_E_ILLEGAL_TRANSITION error. */
export function transition(state: ReplicaState, event: ReplicaEvent): ReplicaState {
  const next = TABLE[state][event.type];
  if (next === undefined) {
    throw new RampartError('RAMPART_E_ILLEGAL_TRANSITION', `replica cannot '${event.type}' while ${state}`, {
      state,
      event: event.type,
    });
  }
  return next;
}

export function canTransition(state: ReplicaState, event: ReplicaEvent['type']): boolean {
  return TABLE[state][event] !== undefined;
}

export const REPLICA_STATES: readonly ReplicaState[] = Object.keys(TABLE) as ReplicaState[];

/**
 * Restart delay after the n-th consecutive crash: 1 s, 2 s, 4 s … capped at `maxMs`, like a
 * Kubernetes CrashLoopBackOff. A replica that ran longer than `resetAfterMs` starts again at 1 s.
 */
export function backoffDelay(
  consecutiveFailures: number,
  opts: { baseMs?: number; maxMs?: number } = {},
): number {
  const base = opts.baseMs ?? 1000;
  const max = opts.maxMs ?? 30_000;
  return Math.min(max, base * 2 ** Math.max(0, consecutiveFailures - 1));
}
