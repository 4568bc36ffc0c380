/**
 * What operators watch and look up: the alarms (each function's errors and throttles, the Kafka
 * offset lag, the stream's iterator age, dead letters, records the mappings gave up on), the
 * dashboard and the stack outputs. The metrics they read are the GroupCollector's `metric…()` methods.
 */
import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { AlarmSettings, CollectorAlarms, GroupCollectorProps } from './collector-props.ts';
import type { GroupCollector } from './group-collector.ts';
import { GroupCollectorValidationError } from './validation.ts';

type AlarmName = keyof CollectorAlarms;

interface AlarmDefinition {
  readonly id: string;
  readonly description: string;
  readonly metric: cloudwatch.IMetric;
  readonly defaults: Required<AlarmSettings>;
  readonly comparison: cloudwatch.ComparisonOperator;
}

const AT_LEAST = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
const ABOVE = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;

/** The alarms, in the order they are created, with the defaults CollectorAlarms documents. */
function alarmDefinitions(construct: GroupCollector): Record<AlarmName, AlarmDefinition> {
  const fiveMinutes = Duration.minutes(5);
  const { collector, timeouts, sweeper } = construct.functions;
  const errors = (name: string, fn: lambda.IFunction, retry: string): AlarmDefinition => ({
    id: `${name.charAt(0).toUpperCase()}${name.slice(1)}Errors`,
    description: `${name} function invocations failed (${retry})`,
    metric: fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
    defaults: { threshold: 1, evaluationPeriods: 1, datapointsToAlarm: 1 },
    comparison: AT_LEAST,
  });
  const throttles = (name: string, fn: lambda.IFunction): AlarmDefinition => ({
    id: `${name.charAt(0).toUpperCase()}${name.slice(1)}Throttles`,
    description: `${name} function throttled`,
    metric: fn.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
    defaults: { threshold: 1, evaluationPeriods: 3, datapointsToAlarm: 2 },
    comparison: AT_LEAST,
  });
  return {
    collectorErrors: errors('collector', collector, 'the mappings retry; the sweeper retries next minute'),
    collectorThrottles: throttles('collector', collector),
    timeoutsErrors: errors('timeouts', timeouts, 'the mappings retry; the sweeper retries next minute'),
    timeoutsThrottles: throttles('timeouts', timeouts),
    sweeperErrors: errors('sweeper', sweeper, 'the mappings retry; the sweeper retries next minute'),
    sweeperThrottles: throttles('sweeper', sweeper),
    offsetLag: {
      id: 'KafkaOffsetLag',
      description: 'the collector is falling behind its topic (OffsetLag, records)',
      metric: construct.metricOffsetLag(),
      defaults: { threshold: 10_000, evaluationPeriods: 10, datapointsToAlarm: 8 },
      comparison: ABOVE,
    },
    iteratorAge: {
      id: 'StreamIteratorAge',
      description: 'TTL deletions reach the timeouts function late (IteratorAge)',
      metric: construct.metricIteratorAge(),
      defaults: {
        threshold: Duration.minutes(10).toMilliseconds(),
        evaluationPeriods: 5,
        datapointsToAlarm: 3,
      },
      comparison: ABOVE,
    },
    deadLetters: {
      id: 'DeadLetters',
      description: `inputs were dead-lettered to ${construct.topics.deadLetter} (see DeadLettersByReason)`,
      metric: construct.metricDeadLetters(),
      defaults: { threshold: 1, evaluationPeriods: 1, datapointsToAlarm: 1 },
      comparison: AT_LEAST,
    },
    streamFailures: {
      id: 'StreamFailuresDepth',
      description: 'the stream mapping gave up on TTL deletions: timeouts may be missing (on-failure queue)',
      metric: construct.metricStreamFailures(),
      defaults: { threshold: 1, evaluationPeriods: 1, datapointsToAlarm: 1 },
      comparison: AT_LEAST,
    },
    kafkaOnFailure: {
      id: 'KafkaOnFailureDeliveries',
      description: 'the Kafka mapping gave up on records and sent them to its on-failure destination',
      metric: construct.metricKafkaOnFailure(),
      defaults: { threshold: 1, evaluationPeriods: 1, datapointsToAlarm: 1 },
      comparison: AT_LEAST,
    },
  };
}

/** The settings of one alarm: the prop's, then the deprecated threshold props, then the defaults. */
function settingsOf(name: AlarmName, props: GroupCollectorProps): AlarmSettings | false {
  const given = props.alarms === false ? false : props.alarms?.[name];
  if (given === false) return false;
  if (name === 'iteratorAge') {
    const age = (given as AlarmSettings<Duration> | undefined) ?? {};
    const threshold = age.threshold ?? props.iteratorAgeThreshold;
    return { ...age, threshold: threshold?.toMilliseconds() };
  }
  const settings = (given as AlarmSettings | undefined) ?? {};
  if (name === 'offsetLag') return { ...settings, threshold: settings.threshold ?? props.offsetLagThreshold };
  return settings;
}

export function createAlarms(construct: GroupCollector, props: GroupCollectorProps): void {
  if (props.alarms === false) return;
  for (const [name, definition] of Object.entries(alarmDefinitions(construct)) as [
    AlarmName,
    AlarmDefinition,
  ][]) {
    const settings = settingsOf(name, props);
    if (settings === false) continue;
    const evaluationPeriods = settings.evaluationPeriods ?? definition.defaults.evaluationPeriods;
    // Given fewer periods than the default's datapoints, all of them must breach.
    const datapointsToAlarm =
      settings.datapointsToAlarm ?? Math.min(definition.defaults.datapointsToAlarm, evaluationPeriods);
    const alarm = new cloudwatch.Alarm(construct, definition.id, {
      alarmDescription: definition.description,
      metric: definition.metric,
      threshold: settings.threshold ?? definition.defaults.threshold,
      evaluationPeriods,
      ...(datapointsToAlarm !== evaluationPeriods ? { datapointsToAlarm } : {}),
      comparisonOperator: definition.comparison,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    if (props.alarmTopic) {
      alarm.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
      alarm.addOkAction(new cwActions.SnsAction(props.alarmTopic));
    }
    construct.alarms.push(alarm);
  }
}

export function createDashboard(construct: GroupCollector): cloudwatch.Dashboard {
  const fns = Object.entries(construct.functions);
  const perFunction = (title: string, metric: (fn: lambda.IFunction) => cloudwatch.IMetric) =>
    new cloudwatch.GraphWidget({
      title,
      width: 8,
      left: fns.map(([name, fn]) => {
        const m = metric(fn);
        return m instanceof cloudwatch.Metric ? m.with({ label: name }) : m;
      }),
    });
  const dashboard = new cloudwatch.Dashboard(construct, 'Dashboard', {
    defaultInterval: Duration.hours(3),
  });
  dashboard.addWidgets(
    perFunction('Invocations', (fn) => fn.metricInvocations({ statistic: 'Sum' })),
    perFunction('Errors', (fn) => fn.metricErrors({ statistic: 'Sum' })),
    perFunction('Throttles', (fn) => fn.metricThrottles({ statistic: 'Sum' })),
  );
  dashboard.addWidgets(
    perFunction('Duration p99', (fn) => fn.metricDuration({ statistic: 'p99' })),
    new cloudwatch.GraphWidget({
      title: 'Kafka OffsetLag (records)',
      width: 8,
      left: [construct.metricOffsetLag()],
    }),
    new cloudwatch.GraphWidget({
      title: 'Stream IteratorAge (ms)',
      width: 8,
      left: [construct.metricIteratorAge()],
    }),
  );
  const givenUp = new cloudwatch.GraphWidget({
    title: 'Given up by the mappings',
    width: 8,
    left: [
      construct.metricKafkaOnFailure().with({ label: 'Kafka → on-failure destination' }),
      construct
        .metricStreamFailures({ period: Duration.minutes(5) })
        .with({ label: 'stream → on-failure queue' }),
    ],
  });
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({ title: 'Dead letters', width: 8, left: [construct.metricDeadLetters()] }),
    givenUp,
    ...(construct.alarms.length > 0
      ? [new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 8, alarms: construct.alarms })]
      : []),
  );
  return dashboard;
}

/** The output prefixes used in each stack: two collectors in one stack need different ones. */
const prefixesByStack = new WeakMap<Stack, Set<string>>();

/**
 * The stack outputs an operator (and `group-collector inspect --stack`) looks for, named
 * `<prefix>TableName` and so on at the top of the stack's Outputs, whatever the construct's path.
 */
export function createOutputs(construct: GroupCollector, prefix: string): void {
  const stack = Stack.of(construct);
  const used = prefixesByStack.get(stack) ?? new Set<string>();
  if (used.has(prefix)) {
    throw new GroupCollectorValidationError([
      `another GroupCollector in stack ${stack.stackName} already has ${prefix ? `outputPrefix "${prefix}"` : 'the outputs without a prefix'}: give this one a different outputPrefix, or outputs: false`,
    ]);
  }
  used.add(prefix);
  prefixesByStack.set(stack, used);
  const { table, functions, topics, streamFailureQueue, dashboard, kafkaMapping } = construct;
  const outputs: Record<string, [string, string] | undefined> = {
    TableName: [table.tableName, 'DynamoDB table of groups'],
    InputTopic: [topics.input, 'topic the collector consumes'],
    OutcomeTopic: [topics.outcomes, 'topic outcomes are published to (unless a group names replyTo)'],
    DeadLetterTopic: [topics.deadLetter, 'topic of inputs the collector could not accept'],
    EsmFailureTopic: [topics.esmFailure, 'topic the Kafka event source mapping sends records it gave up on'],
    CollectorFunctionName: [functions.collector.functionName, 'collector function (Kafka mapping)'],
    TimeoutsFunctionName: [functions.timeouts.functionName, 'timeouts function (TTL stream)'],
    SweeperFunctionName: [functions.sweeper.functionName, 'punctual-deadline sweeper'],
    KafkaConsumerGroupId: [construct.consumerGroupId, 'consumer group of the Kafka event source mapping'],
    KafkaEventSourceMappingId: [kafkaMapping.eventSourceMappingId, 'UUID of the Kafka event source mapping'],
    StreamFailureQueueUrl: [streamFailureQueue.queueUrl, 'on-failure destination of the stream mapping'],
    DashboardName: dashboard ? [dashboard.dashboardName, 'CloudWatch dashboard'] : undefined,
    OutcomePublicKeys: [
      construct.outcomePublicKeys,
      'public keys that verify outcome signatures (kid:x, comma-separated): the client option outcomeKeys',
    ],
  };
  for (const [name, entry] of Object.entries(outputs)) {
    if (!entry) continue;
    const [value, description] = entry;
    const output = new CfnOutput(construct, `${name}Output`, { value, description });
    output.overrideLogicalId(`${prefix}${name}`);
  }
}
