export { EnvironmentController } from './controller.ts';
export type { ControllerOptions, DatabaseEngines, Progress } from './controller.ts';
export { DEFAULT_POOL, allocateNetwork } from './allocate.ts';
export type { NetworkAllocation } from './allocate.ts';
export { databaseName, memberKey, planEnvironment, startLayers } from './plan.ts';
export type { EnvironmentPlan, PlanInputs } from './plan.ts';
export { flattenConfig, renderRcEnv } from './rc-env.ts';
export { ensureDatabasePasswords, resolveSecrets } from './secrets.ts';
export type { ClientSecretValues, SecretCodec } from './secrets.ts';
