/**
 * Every CloudWatch metric the functions emit (embedded metric format), in one place: the
 * functions count them, the stack's alarms and dashboards read them.
 */
import type { Metrics } from '@aws-lambda-powertools/metrics';
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { DEFAULTS } from './config.ts';

/** Namespace and dimensions. The namespace is per deployment (COLLECTOR_METRICS_NAMESPACE); this is the default. */
export const METRICS = {
  namespace: DEFAULTS.metricsNamespace,
  service: 'group-collector',
  /** Powertools adds the dimension `service` = METRICS.service to every metric. */
  serviceDimension: 'service',
  /** Added when COLLECTOR_DEPLOYMENT is set: two stacks in one namespace stay apart. */
  deploymentDimension: 'deployment',
  /** Extra dimension of DeadLettersByReason. */
  reasonDimension: 'reason',
} as const;

/** What the service counts (one per event). */
export const OBSERVATIONS = [
  'GroupsCreated',
  'GroupsSucceeded',
  'GroupsFailed',
  'GroupsTimedOut',
  'OutcomesRepublished',
  'LateReports',
  'DuplicateReports',
  'EarlyReports',
  'DeadLetters',
] as const;
export type Observation = (typeof OBSERVATIONS)[number];

/** Metric names: the observations plus what the handlers count per invocation. */
export const METRIC_NAMES = {
  deadLetters: 'DeadLetters',
  deadLettersByReason: 'DeadLettersByReason',
  lateReports: 'LateReports',
  outcomesRepublished: 'OutcomesRepublished',
  /** Per invocation, so that no invocation flushes an empty metric set. */
  recordsProcessed: 'RecordsProcessed',
  streamRecords: 'StreamRecords',
  sweeps: 'Sweeps',
  dueEntries: 'DueEntries',
  /** Due entries whose handling failed (each retried later with back-off): alarm on it. */
  sweepFailures: 'SweepFailures',
  /** TTL removed a decided group's state before its outcome was published: published then (or alarmed). */
  unpublishedAtExpiry: 'UnpublishedAtExpiry',
} as const;

export interface Observer {
  count(name: Observation, detail?: Record<string, string | number>): void;
}

export const silentObserver: Observer = { count: () => {} };

/** Turns the service's observations into metrics; dead letters are also counted per reason. */
export function metricsObserver(metrics: Metrics): Observer {
  return {
    count: (name, detail) => {
      metrics.addMetric(name, MetricUnit.Count, 1);
      if (name === 'DeadLetters' && detail?.reason !== undefined) {
        // Its own EMF record: the reason dimension must not apply to the invocation's other metrics.
        const single = metrics.singleMetric();
        single.addDimension(METRICS.reasonDimension, String(detail.reason));
        single.addMetric(METRIC_NAMES.deadLettersByReason, MetricUnit.Count, 1);
      }
    },
  };
}
