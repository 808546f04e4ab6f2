/**
 * The one registry of Rampart's error codes. Every failure a user can see carries a stable code,
 * the HTTP status the API answers with, the CLI exit code, and a one-line hint that says what to do.
 * `docs/errors.md` documents every code; a test keeps the two in step.
 */
export const ERROR_CODES = {
  RAMPART_E_STACK_PARSE: { status: 400, exit: 2, hint: 'Fix the YAML syntax at the position shown.' },
  RAMPART_E_STACK_INVALID: {
    status: 400,
    exit: 2,
    hint: 'Fix the field named in the message; see docs/stack-file.md for every field.',
  },
  RAMPART_E_STACK_NOT_FOUND: {
    status: 400,
    exit: 2,
    hint: 'Pass the stack file with -f, or run the command in a folder that has rampart.yaml.',
  },
  RAMPART_E_POLICY_INVALID: {
    status: 400,
    exit: 2,
    hint: 'Fix the NetworkPolicy field named in the message; Rampart reads networking.k8s.io/v1.',
  },
  RAMPART_E_DATA_RULE: {
    status: 409,
    exit: 6,
    hint: 'The change would let forbidden data classes meet in a service (path in the message); narrow the policy or the data it carries.',
  },
  RAMPART_E_NOT_ROOT: {
    status: 500,
    exit: 3,
    hint: 'Run as root (sudo): network namespaces, bridges and nftables need CAP_NET_ADMIN.',
  },
  RAMPART_E_NOT_LINUX: {
    status: 500,
    exit: 3,
    hint: 'Rampart needs Linux (network namespaces and nftables).',
  },
  RAMPART_E_MISSING_TOOL: {
    status: 500,
    exit: 3,
    hint: 'Install the missing tool; `rampart doctor --fix` installs Debian packages as root.',
  },
  RAMPART_E_EXEC_FAILED: {
    status: 500,
    exit: 1,
    hint: 'A system command failed; its stderr is in the message.',
  },
  RAMPART_E_DAEMON_UNREACHABLE: {
    status: 503,
    exit: 4,
    hint: 'Start the control plane with `rampart daemon` (or `rampart up`, which starts it).',
  },
  RAMPART_E_UNAUTHORIZED: {
    status: 401,
    exit: 4,
    hint: 'Send the API token from <state dir>/token as `Authorization: Bearer <token>`.',
  },
  RAMPART_E_FORBIDDEN: {
    status: 403,
    exit: 4,
    hint: 'This token may not do that; use a token with the role.',
  },
  RAMPART_E_BAD_REQUEST: { status: 400, exit: 2, hint: 'Fix the request field named in the message.' },
  RAMPART_E_NOT_FOUND: { status: 404, exit: 5, hint: 'Check the name with `rampart ps`.' },
  RAMPART_E_CONFLICT: { status: 409, exit: 6, hint: 'Another operation holds this; retry when it is done.' },
  RAMPART_E_STATE_LOCKED: {
    status: 409,
    exit: 6,
    hint: 'Another Rampart daemon uses this state directory; stop it or choose another RAMPART_HOME.',
  },
  RAMPART_E_STORE: {
    status: 500,
    exit: 1,
    hint: 'The state store failed; check RAMPART_DATABASE_URL and the logs.',
  },
  RAMPART_E_ADDRESS_SPACE: {
    status: 400,
    exit: 2,
    hint: 'Give the environment a larger or different network.cidr in the stack file.',
  },
  RAMPART_E_DATABASE_ENGINE: {
    status: 500,
    exit: 3,
    hint: 'Install the database engine binary (PostgreSQL 15 server, or cockroach on PATH).',
  },
  RAMPART_E_DATABASE: {
    status: 500,
    exit: 1,
    hint: 'The managed database failed; read `rampart logs <database>`.',
  },
  RAMPART_E_SECRET: {
    status: 400,
    exit: 2,
    hint: 'Provide the secret value (environment variable or file named in the stack file).',
  },
  RAMPART_E_ILLEGAL_TRANSITION: { status: 500, exit: 1, hint: 'This is a bug in Rampart; please report it.' },
  RAMPART_E_UNHEALTHY: {
    status: 500,
    exit: 7,
    hint: 'A service did not become healthy; read `rampart logs <service>` and its health check.',
  },
  RAMPART_E_INTERNAL: {
    status: 500,
    exit: 1,
    hint: 'This is a bug in Rampart; please report it with the daemon log.',
  },
  RAMPART_E_NO_STACK: {
    status: 404,
    exit: 5,
    hint: 'Nothing runs in this environment; start it with `rampart up`.',
  },
  RAMPART_E_LOCKFILE: {
    status: 400,
    exit: 2,
    hint: 'Fix or regenerate the lockfile named in the message (e.g. `npm install --package-lock-only`).',
  },
  RAMPART_E_ADVISORY: {
    status: 400,
    exit: 2,
    hint: 'Fix the advisory source (OSV JSON directory, all.zip or URL) named in the message.',
  },
  RAMPART_E_CI_TRIGGER: {
    status: 502,
    exit: 1,
    hint: "The service's CI did not accept the trigger; check the ci: block of the stack file and the token.",
  },
  RAMPART_E_ROLLED_BACK: {
    status: 409,
    exit: 8,
    hint: 'A new release was not healthy in time and was rolled back; read `rampart logs <service>` and `rampart history <service>`.',
  },
} as const satisfies Record<string, { status: number; exit: number; hint: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorDetails {
  /** File the error is about, if any. */
  file?: string;
  line?: number;
  column?: number;
  /** Dotted path of the field, e.g. `services.web.ports[0].port`. */
  field?: string;
  /** What to do about it, when more specific than the code's hint. */
  fix?: string;
  [key: string]: unknown;
}

export class RampartError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RampartError';
    this.code = code;
    this.details = details;
  }

  get status(): number {
    return ERROR_CODES[this.code].status;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exit;
  }

  get hint(): string {
    return this.details.fix ?? ERROR_CODES[this.code].hint;
  }

  toJSON(): { code: ErrorCode; message: string; hint: string; details: ErrorDetails } {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

export function isRampartError(error: unknown): error is RampartError {
  return error instanceof RampartError;
}
