import type { ResolvedPort } from './types.ts';
import { didYouMean, listWords } from './problems.ts';
import type { FieldPath, ProblemList } from './problems.ts';
import { envNameIssue } from './fields.ts';
import type { PortRef } from './fields.ts';
import type { ServiceInput } from './schema.ts';
import type { StackInput } from './validate.ts';

/**
 * Cross-reference checks: things no single entry can know about itself (port names, dependsOn targets,
 * cycles, database users, published host ports, name clashes). A field that failed its own shape check is
 * absent and its checks are skipped, while the entry's name still counts as existing, so one typo does not
 * cascade into many errors.
 */
export function checkReferences(input: StackInput, environment: string, problems: ProblemList): void {
  const envIssue = envNameIssue(environment);
  if (envIssue) problems.addAt({ line: 1, column: 1 }, 'environment', envIssue.message, envIssue.fix);

  const serviceNames = input.services.map((s) => s.name);
  const databaseNames = input.databases.map((d) => d.name);
  const services = new Map(input.services.map((s) => [s.name, s.fields]));

  for (const env of input.environments) {
    for (const { name } of env.services) {
      if (serviceNames.includes(name)) continue;
      problems.add({
        path: ['environments', env.name, 'services', name],
        anchor: 'key',
        message: `unknown service '${name}'${didYouMean(name, serviceNames)}`,
        fix: `overlay one of the services: ${listWords(serviceNames)}`,
      });
    }
  }

  // Keyed by protocol too: TCP 53 and UDP 53 are different sockets, as in the nft published_ports map.
  const hostPorts = new Map<string, string>();
  for (const [name, svc] of services) {
    const base = ['services', name] as const;
    const { health, ports } = svc;
    if (health?.http && ports) {
      checkPortRef(ports, health.http.port, [...base, 'health', 'http', 'port'], true, problems);
    }
    if (health?.tcp && ports) {
      checkPortRef(ports, health.tcp.port, [...base, 'health', 'tcp', 'port'], true, problems);
    }
    svc.publish?.forEach((p, i) => {
      if (!ports || !checkPortRef(ports, p.port, [...base, 'publish', i, 'port'], false, problems)) return;
      const key = `${p.hostPort}/${findPort(ports, p.port)[0]!.protocol}`;
      const first = hostPorts.get(key);
      if (first === undefined) hostPorts.set(key, `services.${name}.publish[${i}]`);
      else {
        problems.add({
          path: [...base, 'publish', i, 'hostPort'],
          message: `host port ${key} is already published by ${first}`,
          fix: 'choose a host port no other service publishes',
        });
      }
    });
    const targets = [...serviceNames, ...databaseNames].filter((t) => t !== name);
    svc.dependsOn?.forEach((target, i) => {
      const isService = serviceNames.includes(target);
      const isDatabase = databaseNames.includes(target);
      if (isService && isDatabase) {
        problems.add({
          path: [...base, 'dependsOn', i],
          message: `'${target}' names both a service and a database`,
          fix: 'rename the service or the database',
        });
      } else if (!isService && !isDatabase) {
        problems.add({
          path: [...base, 'dependsOn', i],
          message: `unknown service or database '${target}'${didYouMean(target, targets)}`,
          fix: targets.length > 0 ? `depend on one of: ${targets.join(', ')}` : 'remove it',
        });
      }
    });
  }

  checkCycles(services, problems);

  for (const db of input.databases) {
    db.fields.users?.forEach((user, i) => {
      const path = ['databases', db.name, 'users', i];
      const svc = services.get(user);
      if (!serviceNames.includes(user)) {
        problems.add({
          path,
          message: `unknown service '${user}'${didYouMean(user, serviceNames)}`,
          fix: `list services of this stack: ${serviceNames.join(', ')}`,
        });
      } else if (svc?.networks && !svc.networks.includes('db')) {
        problems.add({
          path,
          message: `service '${user}' is not on the db network, so it cannot reach the database`,
          fix: `add db to services.${user}.networks`,
        });
      }
    });
    const { engine, parameters } = db.fields;
    if (engine !== undefined && engine !== 'postgres' && parameters && Object.keys(parameters).length > 0) {
      problems.add({
        path: ['databases', db.name, 'parameters'],
        anchor: 'key',
        message: `parameters are PostgreSQL settings; engine ${engine} does not take them`,
        fix: 'remove parameters, or use engine: postgres',
      });
    }
    // Only whole entries: an invalid namespace field would otherwise look like the default namespace.
    const namespace = db.fields.namespace ?? environment;
    const twin = input.services.find((s) => s.name === db.name);
    if (db.valid && twin?.valid && (twin.fields.namespace ?? environment) === namespace) {
      problems.add({
        path: ['databases', db.name],
        anchor: 'key',
        message: `database '${db.name}' has the same name as service '${db.name}' in namespace '${namespace}'`,
        fix: 'rename one of them or put them in different namespaces',
      });
    }
  }
}

/**
 * The service port a reference means. A number that no port declares is allowed only for health checks
 * (a probe may target an admin port); publishing needs the protocol, so it must name a declared port.
 */
export function findPort(ports: readonly ResolvedPort[], ref: PortRef): ResolvedPort[] {
  return ports.filter((p) => (typeof ref === 'string' ? p.name === ref : p.port === ref));
}

/** Reports a reference that does not pick exactly one port; true when it does (or may: health numbers). */
function checkPortRef(
  ports: readonly ResolvedPort[],
  ref: PortRef,
  path: FieldPath,
  anyNumber: boolean,
  problems: ProblemList,
): boolean {
  const matches = findPort(ports, ref);
  const names = ports.map((p) => p.name);
  const declared =
    names.length > 0 ? `use one of: ${names.join(', ')}` : `declare it in services.${String(path[1])}.ports`;
  // A health probe only needs a number; publishing also needs the protocol, so one declared port.
  if (matches.length === 1 || (typeof ref === 'number' && anyNumber)) return true;
  if (typeof ref === 'string') {
    problems.add({ path, message: `unknown port name '${ref}'${didYouMean(ref, names)}`, fix: declared });
  } else if (matches.length === 0) {
    problems.add({ path, message: `port ${ref} is not declared in ports`, fix: declared });
  } else {
    problems.add({
      path,
      message: `port ${ref} is declared for both TCP and UDP`,
      fix: `refer to it by name: ${matches.map((p) => p.name).join(' or ')}`,
    });
  }
  return false;
}

/** Depth-first search in file order; each cycle is reported once, at the dependsOn entry that closes it. */
function checkCycles(services: ReadonlyMap<string, Partial<ServiceInput>>, problems: ProblemList): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const reported = new Set<string>();
  const visit = (name: string): void => {
    state.set(name, 'visiting');
    stack.push(name);
    const deps = services.get(name)?.dependsOn ?? [];
    deps.forEach((dep, i) => {
      if (!services.has(dep)) return;
      if (state.get(dep) === 'visiting') {
        const cycle = [...stack.slice(stack.indexOf(dep)), dep];
        const key = [...cycle.slice(0, -1)].sort().join(' ');
        if (reported.has(key)) return;
        reported.add(key);
        problems.add({
          path: ['services', name, 'dependsOn', i],
          message: `dependency cycle: ${cycle.join(' -> ')}`,
          fix: 'remove one of these dependsOn entries so services can start in order',
        });
      } else if (state.get(dep) === undefined) visit(dep);
    });
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of services.keys()) if (state.get(name) === undefined) visit(name);
}
