export { DEFAULT_PORT, DEFAULT_STATE_DIR, resolveDaemonConfig } from './daemon-config.ts';
export type { ResolvedDaemonConfig } from './daemon-config.ts';
