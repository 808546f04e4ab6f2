import { RampartError } from '../platform/errors.ts';

/** A lockfile Rampart cannot read: names the file, the field or line, and how to get a good one. */
export function lockfileError(
  file: string,
  message: string,
  opts: { field?: string; line?: number; fix?: string } = {},
): RampartError {
  const where = opts.line !== undefined ? `${file}:${opts.line}` : file;
  return new RampartError(
    'RAMPART_E_LOCKFILE',
    `${where}: ${opts.field ? `${opts.field}: ` : ''}${message}`,
    {
      file,
      ...(opts.line !== undefined && { line: opts.line }),
      ...(opts.field !== undefined && { field: opts.field }),
      fix:
        opts.fix ??
        'regenerate the lockfile with your package manager (e.g. `npm install --package-lock-only`)',
    },
  );
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
