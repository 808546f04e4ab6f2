export { parseStack } from './parse.ts';
export type { ParseStackOptions } from './parse.ts';
export { loadStack } from './load.ts';
export type { LoadStackOptions } from './load.ts';
export { DEFAULT_DATABASE_PORTS } from './resolve.ts';
// Shared with other YAML readers (NetworkPolicies): positions, problem lists, suggestions.
export { ProblemList, describeValue, didYouMean, formatProblem, isPlainObject } from './problems.ts';
export type { FieldPath } from './problems.ts';
export { yamlLocator } from './positions.ts';
export type { StackProblem } from './problems.ts';
export type {
  DatabaseEngine,
  NetworkName,
  Protocol,
  ResolvedDatabase,
  ResolvedDeploy,
  ResolvedHealthCheck,
  ResolvedNamespace,
  ResolvedPort,
  ResolvedPublish,
  ResolvedSecretRef,
  ResolvedService,
  ResolvedStack,
} from './types.ts';
export type { ResolvedCi, ResolvedCiTarget, ResolvedCredential } from './ci.ts';

/** Environment the CLI uses when none is given. */
export const DEFAULT_ENVIRONMENT = 'prod';
/** File name the CLI looks for when no stack file is given. */
export const DEFAULT_STACK_FILE = 'rampart.yaml';
