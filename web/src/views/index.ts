import { complianceView } from './compliance.ts';
import { deploysView } from './deploys.ts';
import { environmentsView } from './environments.ts';
import { firewallView } from './firewall.ts';
import { logsView } from './logs.ts';
import { mapView } from './map.ts';
import { tracesView } from './traces.ts';
import { vulnerabilitiesView } from './vulnerabilities.ts';
import type { View } from './view.ts';

/** The navigation, in order. A new view is one import and one entry here. */
export const VIEWS: readonly View[] = [
  mapView,
  firewallView,
  complianceView,
  logsView,
  tracesView,
  deploysView,
  environmentsView,
  vulnerabilitiesView,
];
