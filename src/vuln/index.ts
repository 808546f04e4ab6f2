export type { Finding, InstalledPackage, Inventory, LoadedState, LockfileFormat, Severity } from './types.ts';
export { SEVERITIES } from './types.ts';
export { LOCKFILE_NAMES, parseLockfile, readInventory } from './lockfile.ts';
export { parsePackageLock } from './lockfile-npm.ts';
export { parsePnpmLock } from './lockfile-pnpm.ts';
export { parseYarnLock } from './lockfile-yarn.ts';
export type { RootManifest } from './lockfile-yarn.ts';
export { AdvisoryIndex, matchVersion } from './osv.ts';
export type { AdvisoryInfo, OsvRecord, VersionMatch } from './osv.ts';
export { cvss3BaseScore } from './cvss.ts';
export {
  advisoryFingerprint,
  loadAdvisories,
  parseOsvJson,
  parseOsvZip,
  refreshAdvisories,
} from './advisories.ts';
export type { AdvisoryProblem, LoadedAdvisories } from './advisories.ts';
export { npmPurl, renderCycloneDx } from './sbom.ts';
export type { SbomOptions } from './sbom.ts';
export { loadedState, parseModulesRecord } from './loaded.ts';
export type { LoadedEvidence, ModulesRecord } from './loaded.ts';
export { matchInventory, scanPath, sortFindings } from './scan.ts';
export type { ScanResult } from './scan.ts';
export {
  ALERT_KIND,
  FINDING_KIND,
  VulnManager,
  findingId,
  modulesFilesOf,
  releasesFromStacks,
} from './manager.ts';
export type {
  FindingRecord,
  FindingState,
  RunningRelease,
  TimelineEvent,
  VulnAlert,
  VulnManagerOptions,
} from './manager.ts';
export {
  decideResponse,
  planTrigger,
  readCredential,
  sendTrigger,
  signWebhook,
  triggerVariables,
} from './ci.ts';
export type { PlannedRequest, ResponseAction, TriggerContext, TriggerResult } from './ci.ts';
export { resolveVulnConfig } from './config.ts';
export type { ResolvedVulnConfig } from './config.ts';
