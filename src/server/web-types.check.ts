// Compile-time only: the dashboard's copy of the API's answer shapes (web/src/types.ts, declared
// apart so that browser code never imports server modules) must accept what the server sends.
// Each answer the server serializes must be assignable to the web type that reads it (the dashboard
// may read fewer fields than are sent), and the web type must name no field the server never sends
// (an optional one would pass the first check unseen); unions declared on both sides must be equal.
// `npx tsc --noEmit -p .` fails here, naming the check, when the two drift. Nothing in this file runs.
import type * as Web from '../../web/src/types.ts';
import type {
  ComplianceReport,
  EdgePeer,
  FirewallManager,
  FirewallMode,
  StoredPolicy,
} from '../firewall/index.ts';
import type { DeployOutcome } from '../delivery/index.ts';
import type { NodeKind, Observability } from '../observe/index.ts';
import type { RampartError } from '../platform/errors.ts';
import type { errorBody } from './app.ts';
import type { Principal, Role } from './auth.ts';
import type { environmentInfo } from './routes/dashboard.ts';
import type { firewallState, policyAnswer } from './routes/firewall.ts';
import type { findingsAnswer } from './routes/vuln.ts';
import type { ControlPlane } from './control-plane.ts';
import type { DeliveryService } from './delivery.ts';

type Assert<T extends true> = T;
type Extends<A, B> = [A] extends [B] ? true : false;
type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
/** Every field of `W` is a field the server sends in `S` (in some member, when `S` is a union). */
type Sent<S, W> = [Exclude<keyof W, AllKeys<S>>] extends [never] ? true : false;
type AllKeys<T> = T extends unknown ? keyof T : never;

/** What a method answers (unwrapped from its promise). */
type Answer<F extends (...args: any) => unknown> = Awaited<ReturnType<F>>;
/** One element of what a method answers (a list). */
type Item<F extends (...args: any) => unknown> = Answer<F> extends readonly (infer T)[] ? T : never;

// GET /v1/whoami answers these three fields of the principal (auth.ts).
type WhoAmI = Pick<Principal, 'name' | 'role' | 'environments'>;
// GET /v1/replicas; ReplicaStatus. Its `vip: string | undefined` is left out of JSON when undefined.
type Replica = Item<ControlPlane['ps']>;
// GET /v1/observe/map.
type ServiceMap = ReturnType<Observability['serviceMap']>;
type ServiceMapNode = ServiceMap['nodes'][number];
type ServiceMapEdge = ServiceMap['edges'][number];
// GET /v1/dashboard/flows: the firewall's learned edges (firewall Edge, not observe's FlowEdge).
type FlowEdge = Item<FirewallManager['learnedEdges']>;
// GET /v1/firewall (routes/firewall.ts).
type FirewallState = Answer<typeof firewallState>;
type RuleUsage = FirewallState['rules'][number];
// GET /v1/alerts.
type Alert = Item<FirewallManager['alerts']>;
// GET /v1/policies lists each stored policy as this (routes/firewall.ts).
type PolicyAnswer = ReturnType<typeof policyAnswer>;
// GET /v1/compliance.
type Compliance = Answer<FirewallManager['compliance']>;
type ServiceCompliance = Compliance['services'][number];
type ClassReach = ServiceCompliance['classes'][number];
type DataHop = ClassReach['path'][number];
// GET /v1/logs streams the replica journal's lines; GET /v1/observe/logs the log store's.
type JournalLine = Item<ControlPlane['logs']>;
type StoredLog = Item<Observability['logs']['search']>;
// GET /v1/observe/traces and /v1/observe/traces/:traceId.
type TraceSummary = Item<Observability['traces']['listTraces']>;
type Span = Item<Observability['traces']['getTrace']>;
// GET /v1/environments/:env/history.
type DeployRecord = Item<DeliveryService['history']>;
// GET /v1/dashboard/environments (routes/dashboard.ts).
type EnvironmentInfo = Answer<typeof environmentInfo>;
type ServiceRelease = EnvironmentInfo['services'][number];
// GET /v1/vuln/findings (routes/vuln.ts).
type FindingsAnswer = Answer<typeof findingsAnswer>;
type FindingRecord = FindingsAnswer['findings'][number];
// `{ error }` of a failed request (app.ts's error handler) and of a failed NDJSON operation.
type ErrorJson = ReturnType<RampartError['toJSON']>;
type StreamedError = ReturnType<typeof errorBody>;

export type _checks = [
  // Unions declared on both sides: equal.
  Assert<Equal<Role, Web.Role>>,
  Assert<Equal<NodeKind, Web.NodeKind>>,
  Assert<Equal<FirewallMode, Web.FirewallMode>>,
  Assert<Equal<DeployOutcome, Web.DeployOutcome>>,
  Assert<Equal<EdgePeer, Web.EdgePeer>>,
  Assert<Equal<Replica['kind'], Web.Replica['kind']>>,
  Assert<Equal<ServiceMapEdge['sources'][number], Web.ServiceMapEdge['sources'][number]>>,
  Assert<Equal<RuleUsage['direction'], Web.RuleUsage['direction']>>,
  Assert<Equal<RuleUsage['provenance'], Web.RuleUsage['provenance']>>,
  Assert<Equal<Alert['kind'], Web.Alert['kind']>>,
  Assert<Equal<Alert['decision'], Web.Alert['decision']>>,
  Assert<Equal<Alert['src']['kind'], Web.AlertEnd['kind']>>,
  Assert<Equal<StoredPolicy['source'], Web.StoredPolicy['source']>>,
  Assert<Equal<DataHop['carries'], Web.DataHop['carries']>>,
  Assert<Equal<Compliance['forwarding'], Web.ComplianceReport['forwarding']>>,
  Assert<Equal<Span['status'], Web.Span['status']>>,
  Assert<Equal<DeployRecord['kind'], Web.DeployRecord['kind']>>,

  // What the server sends is what the dashboard reads (or more).
  Assert<Extends<WhoAmI, Web.WhoAmI>>,
  Assert<Extends<Replica, Web.Replica>>,
  Assert<Extends<ServiceMapNode, Web.Red>>,
  Assert<Extends<ServiceMapNode, Web.ServiceMapNode>>,
  Assert<Extends<ServiceMapEdge, Web.ServiceMapEdge>>,
  Assert<Extends<ServiceMap, Web.ServiceMap>>,
  Assert<Extends<FlowEdge, Web.FlowEdge>>,
  Assert<Extends<FirewallState['modes'], Web.FirewallModes>>,
  Assert<Extends<FirewallState['coverage'][number], Web.ServiceCoverage>>,
  Assert<Extends<RuleUsage, Web.RuleUsage>>,
  Assert<Extends<FirewallState, Web.FirewallState>>,
  Assert<Extends<Alert['src'], Web.AlertEnd>>,
  Assert<Extends<Alert, Web.Alert>>,
  Assert<Extends<PolicyAnswer, Web.StoredPolicy>>,
  Assert<Extends<Compliance['connections'][number], Web.Connection>>,
  Assert<Extends<DataHop, Web.DataHop>>,
  Assert<Extends<ClassReach, Web.ClassReach>>,
  Assert<Extends<ServiceCompliance, Web.ServiceCompliance>>,
  Assert<Extends<Compliance['rules'][number], Web.DataRule>>,
  Assert<Extends<Compliance, Web.ComplianceReport>>,
  Assert<Extends<ComplianceReport, Web.ComplianceReport>>,
  Assert<Extends<Item<ControlPlane['config']>, Web.ConfigEntry>>,
  Assert<Extends<JournalLine, Web.LogLine>>,
  Assert<Extends<StoredLog, Web.LogLine>>,
  Assert<Extends<TraceSummary, Web.TraceSummary>>,
  Assert<Extends<Span, Web.Span>>,
  Assert<Extends<DeployRecord, Web.DeployRecord>>,
  Assert<Extends<ServiceRelease, Web.ServiceRelease>>,
  Assert<Extends<EnvironmentInfo, Web.EnvironmentInfo>>,
  Assert<Extends<FindingRecord, Web.FindingRecord>>,
  Assert<Extends<FindingsAnswer, Web.FindingsAnswer>>,
  Assert<Extends<ErrorJson, Web.ApiErrorBody>>,
  Assert<Extends<StreamedError, Web.ApiErrorBody>>,

  // No field the server never sends (top level of each web type, and of its inline objects).
  Assert<Sent<WhoAmI, Web.WhoAmI>>,
  Assert<Sent<Replica, Web.Replica>>,
  Assert<Sent<ServiceMapNode, Web.Red>>,
  Assert<Sent<ServiceMapNode, Web.ServiceMapNode>>,
  Assert<Sent<ServiceMapEdge, Web.ServiceMapEdge>>,
  Assert<Sent<ServiceMap, Web.ServiceMap>>,
  Assert<Sent<FlowEdge, Web.FlowEdge>>,
  Assert<Sent<FirewallState['modes'], Web.FirewallModes>>,
  Assert<Sent<FirewallState['coverage'][number], Web.ServiceCoverage>>,
  Assert<Sent<RuleUsage, Web.RuleUsage>>,
  Assert<Sent<FirewallState, Web.FirewallState>>,
  Assert<Sent<Alert['src'], Web.AlertEnd>>,
  Assert<Sent<Alert, Web.Alert>>,
  Assert<Sent<PolicyAnswer, Web.StoredPolicy>>,
  Assert<Sent<StoredPolicy['policy'], Web.StoredPolicy['policy']>>,
  Assert<Sent<StoredPolicy['policy']['metadata'], Web.StoredPolicy['policy']['metadata']>>,
  Assert<Sent<StoredPolicy['policy']['spec'], Web.StoredPolicy['policy']['spec']>>,
  Assert<
    Sent<StoredPolicy['policy']['spec']['podSelector'], Web.StoredPolicy['policy']['spec']['podSelector']>
  >,
  Assert<Sent<Compliance['connections'][number], Web.Connection>>,
  Assert<Sent<DataHop, Web.DataHop>>,
  Assert<Sent<ClassReach, Web.ClassReach>>,
  Assert<Sent<ServiceCompliance, Web.ServiceCompliance>>,
  Assert<Sent<Compliance['rules'][number], Web.DataRule>>,
  Assert<Sent<Compliance, Web.ComplianceReport>>,
  Assert<Sent<Compliance['violations'][number], Web.ComplianceReport['violations'][number]>>,
  Assert<Sent<Item<ControlPlane['config']>, Web.ConfigEntry>>,
  Assert<Sent<JournalLine | StoredLog, Web.LogLine>>,
  Assert<Sent<TraceSummary, Web.TraceSummary>>,
  Assert<Sent<Span, Web.Span>>,
  Assert<Sent<DeployRecord, Web.DeployRecord>>,
  Assert<Sent<DeployRecord['services'][number], Web.DeployRecord['services'][number]>>,
  Assert<Sent<ServiceRelease, Web.ServiceRelease>>,
  Assert<Sent<EnvironmentInfo, Web.EnvironmentInfo>>,
  Assert<Sent<NonNullable<EnvironmentInfo['source']>, NonNullable<Web.EnvironmentInfo['source']>>>,
  Assert<Sent<FindingRecord, Web.FindingRecord>>,
  Assert<Sent<FindingRecord['current'][number], Web.FindingRecord['current'][number]>>,
  Assert<Sent<NonNullable<FindingRecord['decision']>, NonNullable<Web.FindingRecord['decision']>>>,
  Assert<Sent<FindingRecord['timeline'][number], Web.FindingRecord['timeline'][number]>>,
  Assert<Sent<FindingsAnswer, Web.FindingsAnswer>>,
  Assert<Sent<FindingsAnswer['advisories'], Web.FindingsAnswer['advisories']>>,
  Assert<Sent<ErrorJson, Web.ApiErrorBody>>,
];
