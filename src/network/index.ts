export {
  DEFAULT_ADDRESS_POOL,
  ENVIRONMENT_BLOCK_PREFIX,
  allocateAddress,
  allocateEnvironmentBlock,
  assertHostAddress,
  cidrContains,
  cidrsOverlap,
  formatCidr,
  intToIp,
  ipToInt,
  networkRanges,
  parseCidr,
  planEnvironmentAddressing,
  vipNetwork,
} from './addressing.ts';
export type { Cidr, EnvironmentAddressing, SubnetPlan } from './addressing.ts';

export {
  NETNS_RESOLV_CONF,
  discoveryEnv,
  discoveryEnvPrefix,
  discoveryHosts,
  formatHostsFile,
  renderHostsFile,
} from './discovery.ts';
export type { DiscoveryInput, DiscoveryMember, HostsEntry } from './discovery.ts';

export { ETC_NETNS_DIR, memoryNetworkFs, realNetworkFs, writeNetnsFiles } from './files.ts';
export type { NetworkFs } from './files.ts';

export {
  applyReplicaNetwork,
  execInNetns,
  macForAddress,
  linkAlias,
  planReplicaNetwork,
  removeReplicaNetwork,
  replicaNetworkCommands,
  updateReplicaHosts,
} from './replica.ts';
export type {
  ExecInNetnsOptions,
  NetworkApplyOptions,
  ReplicaIdentity,
  ReplicaInterfacePlan,
  ReplicaNetworkInput,
  ReplicaNetworkPlan,
} from './replica.ts';

export {
  BRIDGE_NF_CALL_IPTABLES,
  HOST_SYSCTLS,
  applyEnvironmentNetwork,
  checkBridgeNetfilter,
  environmentNetworkCommands,
  hostIpv4Networks,
  planEnvironmentNetwork,
} from './environment.ts';
export type { EnvironmentBridgePlan, EnvironmentNetworkPlan } from './environment.ts';

export {
  applyRuleset,
  deleteRuleset,
  publishChainName,
  renderRuleset,
  rulesetTransaction,
  serviceChainName,
} from './nft.ts';
export type { LoadBalancedService, RulesetInput } from './nft.ts';

export { listLeftovers, removeEnvironment, removeLeftovers } from './cleanup.ts';
export type { CleanupOptions, CleanupReport, Leftovers } from './cleanup.ts';

export { listLinks, listNetns, listNftTables } from './links.ts';
export type { HostLink } from './links.ts';
export { applyReplicaNetworks, ipBatch, planReplicaNetworksBatch, removeReplicaNetworks } from './batch.ts';
export type { BatchPlan } from './batch.ts';
