export { DEFAULT_DEPLOY, deploySettings, planRollout, slotCount } from './rollout.ts';
export type { Rollout, RolloutInput, RolloutStep } from './rollout.ts';
export {
  computeReleases,
  hashRelease,
  materializeRelease,
  prepareReleases,
  releaseDir,
  releaseSource,
  releaseSpec,
  withReleases,
} from './release.ts';
export type { Release, ReleaseSource, ReleaseStoreOptions } from './release.ts';
export { connectionsOf, countConnections, type ConnectionCount, type DrainTarget } from './drain.ts';
export { formatDeployPlan, planDeploy } from './deploy-plan.ts';
export type { DeployPlan, ServiceChange } from './deploy-plan.ts';
export {
  DEPLOY_KIND,
  RELEASE_KIND,
  listDeploys,
  listReleases,
  newDeployRecord,
  putDeployRecord,
  recordRelease,
} from './history.ts';
export type { DeployOutcome, DeployRecord, ReleaseRecord } from './history.ts';
