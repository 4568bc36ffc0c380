/**
 * What operators watch: the alarms (each function's errors and throttles, the Kafka offset lag, the
 * stream's iterator age, dead letters, records the mappings gave up on) and the dashboard. The
 * metrics they read are the GroupCollector's public metric methods.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type { GroupCollectorProps } from './collector-props.ts';
import type { GroupCollector } from './group-collector.ts';

export function createAlarms(construct: GroupCollector, props: GroupCollectorProps): void {
  const add = (id: string, alarm: cloudwatch.AlarmProps): void => {
    const created = new cloudwatch.Alarm(construct, id, {
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      ...alarm,
    });
    if (props.alarmTopic) created.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
    construct.alarms.push(created);
  };
  const fiveMinutes = Duration.minutes(5);
  for (const [name, fn] of Object.entries(construct.functions)) {
    const label = name.charAt(0).toUpperCase() + name.slice(1);
    add(`${label}Errors`, {
      alarmDescription: `${name} function invocations failed (the mappings retry; the sweeper retries next minute)`,
      metric: fn.metricErrors({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    add(`${label}Throttles`, {
      alarmDescription: `${name} function throttled`,
      metric: fn.metricThrottles({ period: fiveMinutes, statistic: 'Sum' }),
      threshold: 1,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
  add('KafkaOffsetLag', {
    alarmDescription: 'the collector is falling behind its topic (OffsetLag, records)',
    metric: construct.offsetLagMetric(),
    threshold: props.offsetLagThreshold ?? 10_000,
    evaluationPeriods: 10,
    datapointsToAlarm: 8,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  });
  add('StreamIteratorAge', {
    alarmDescription: 'TTL deletions reach the timeouts function late (IteratorAge)',
    metric: construct.iteratorAgeMetric(),
    threshold: (props.iteratorAgeThreshold ?? Duration.minutes(10)).toMilliseconds(),
    evaluationPeriods: 5,
    datapointsToAlarm: 3,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
  });
  add('DeadLetters', {
    alarmDescription: `inputs were dead-lettered to ${construct.topics.deadLetter} (see DeadLettersByReason)`,
    metric: construct.deadLettersMetric(),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  });
  add('StreamFailuresDepth', {
    alarmDescription:
      'the stream mapping gave up on TTL deletions: timeouts may be missing (on-failure queue)',
    metric: construct.streamFailureQueue.metricApproximateNumberOfMessagesVisible({
      period: fiveMinutes,
      statistic: 'Maximum',
    }),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  });
  add('KafkaOnFailureDeliveries', {
    alarmDescription: `the Kafka mapping gave up on records and sent them to its on-failure destination`,
    metric: construct.kafkaOnFailureMetric(),
    threshold: 1,
    evaluationPeriods: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
  });
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
      left: [construct.offsetLagMetric()],
    }),
    new cloudwatch.GraphWidget({
      title: 'Stream IteratorAge (ms)',
      width: 8,
      left: [construct.iteratorAgeMetric()],
    }),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({ title: 'Dead letters', width: 8, left: [construct.deadLettersMetric()] }),
    new cloudwatch.GraphWidget({
      title: 'Given up by the mappings',
      width: 8,
      left: [
        construct.kafkaOnFailureMetric().with({ label: 'Kafka → on-failure destination' }),
        construct.streamFailureQueue
          .metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' })
          .with({ label: 'stream → on-failure queue' }),
      ],
    }),
    new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 8, alarms: construct.alarms }),
  );
  return dashboard;
}
