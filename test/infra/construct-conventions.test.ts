/**
 * The construct as a CDK library user meets it, in a plain Stack of their own: metric methods,
 * Durations, an optional customer managed key, reserved concurrency, optional alarms and dashboard,
 * outputs, the typed validation error, warnings in terms of props, and doc comments that state
 * their defaults (with the deprecated names still working).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App, Duration, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import { NIST80053R5Checks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { LOCAL_TOPIC_PARTITIONS } from '#local/settings.ts';
import { KAFKA_ESM } from '#shared/aws.ts';
import { DEFAULTS, ENV, LIMITS, TOPICS } from '#shared/config.ts';
import {
  GroupCollector,
  type GroupCollectorProps,
  GroupCollectorValidationError,
  LEGACY_CONSUMER_GROUP_ID,
  WARNINGS,
} from '../../infra/index.ts';
import { ACCOUNT, REGION, SELF_SECRET } from './stacks.ts';

/** A user's stack with one collector on self-managed brokers (SCRAM over the internet), plus the given props. */
/** A user's stack with a self-managed SCRAM collector and `extra` props (built in that stack when a function). */
function userStack(
  extra: Partial<GroupCollectorProps> | ((stack: Stack) => Partial<GroupCollectorProps>) = {},
  name = 'Users',
): { stack: Stack; collector: GroupCollector } {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, name, { env: { account: ACCOUNT, region: REGION } });
  const collector = new GroupCollector(stack, 'Collector', {
    kafka: {
      kind: 'self-managed',
      bootstrapServers: ['kafka-1.example.com:9096'],
      auth: 'scram-sha-512',
      secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', SELF_SECRET),
    },
    consumerGroupId: 'users-collector',
    ...(typeof extra === 'function' ? extra(stack) : extra),
  });
  return { stack, collector };
}

const warningIds = (stack: Stack): string[] =>
  Annotations.fromStack(stack)
    .findWarning('*', Match.anyValue())
    .map((w) => /\[ack: ([^\]]+)\]/.exec(String(w.entry.data))?.[1] ?? String(w.entry.data));

const environmentOf = (template: Template): Record<string, string>[] =>
  // The three functions (the outcome key generator, a custom resource, has no environment).
  Object.values(template.findResources('AWS::Lambda::Function'))
    .filter((fn) => fn.Properties.Environment !== undefined)
    .map((fn) => fn.Properties.Environment.Variables as Record<string, string>);

describe('metrics', () => {
  it('are metric…() methods taking MetricOptions; the old names return the same metrics', () => {
    // Prepare
    const { collector } = userStack();
    // Act
    const pairs = [
      [collector.metricDeadLetters(), collector.deadLettersMetric()],
      [collector.metricOffsetLag(), collector.offsetLagMetric()],
      [collector.metricIteratorAge(), collector.iteratorAgeMetric()],
      [collector.metricKafkaOnFailure(), collector.kafkaOnFailureMetric()],
    ] as const;
    const hourly = collector.metricDeadLetters({ period: Duration.hours(1), statistic: 'Maximum' });
    // Assess
    expect(pairs.map(([metric]) => metric.metricName)).toEqual([
      'DeadLetters',
      'OffsetLag',
      'IteratorAge',
      'OnFailureDestinationDeliveredEventCount',
    ]);
    for (const [metric, old] of pairs) expect(old.toMetricConfig()).toEqual(metric.toMetricConfig());
    expect(hourly.period.toSeconds()).toBe(3600);
    expect(hourly.statistic).toBe('Maximum');
    expect(collector.metricStreamFailures().metricName).toBe('ApproximateNumberOfMessagesVisible');
  });
});

describe('alarms', () => {
  it('without alarmTopic: all eleven, and a synth warning that nobody will be told', () => {
    // Prepare / Act
    const { stack, collector } = userStack();
    // Assess
    expect(collector.alarms).toHaveLength(11);
    expect(warningIds(stack)).toEqual([WARNINGS.alarmsNotifyNoOne]);
    Template.fromStack(stack).allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: Match.absent(),
    });
  });

  it('with alarmTopic: every alarm notifies it on alarm and on OK, and nothing is warned', () => {
    // Prepare
    const topicArn = `arn:aws:sns:${REGION}:${ACCOUNT}:on-call`;
    // Act
    const { stack } = userStack({
      alarmTopic: sns.Topic.fromTopicArn(new Stack(), 'T', topicArn),
    });
    // Assess
    expect(warningIds(stack)).toEqual([]);
    Template.fromStack(stack).allResourcesProperties('AWS::CloudWatch::Alarm', {
      AlarmActions: [topicArn],
      OKActions: [topicArn],
    });
  });

  it('each can be left out or re-thresholded; alarms: false creates none and warns of nothing', () => {
    // Prepare / Act
    const tuned = userStack({
      alarms: {
        deadLetters: { threshold: 10, evaluationPeriods: 3, datapointsToAlarm: 1 },
        offsetLag: { threshold: 500 },
        iteratorAge: { threshold: Duration.minutes(2), evaluationPeriods: 2 },
        sweeperThrottles: false,
      },
    });
    const none = userStack({ alarms: false });
    // Assess
    const template = Template.fromStack(tuned.stack);
    template.resourceCountIs('AWS::CloudWatch::Alarm', 10);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'DeadLetters',
      Threshold: 10,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 1,
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'OffsetLag',
      Threshold: 500,
      EvaluationPeriods: 10,
      DatapointsToAlarm: 8,
    });
    // Fewer periods than the default's datapoints: all of them must breach.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'IteratorAge',
      Threshold: 120_000,
      EvaluationPeriods: 2,
      DatapointsToAlarm: Match.absent(),
    });
    Template.fromStack(none.stack).resourceCountIs('AWS::CloudWatch::Alarm', 0);
    expect(none.collector.alarms).toEqual([]);
    expect(warningIds(none.stack)).toEqual([]);
  });

  it('the deprecated threshold props still work, and cannot be given with their replacement', () => {
    // Prepare / Act
    const { stack } = userStack({ offsetLagThreshold: 777, iteratorAgeThreshold: Duration.minutes(3) });
    const both = () => userStack({ offsetLagThreshold: 1, alarms: { offsetLag: { threshold: 2 } } });
    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::CloudWatch::Alarm', { MetricName: 'OffsetLag', Threshold: 777 });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'IteratorAge',
      Threshold: 180_000,
    });
    expect(both).toThrow(/give alarms.offsetLag or offsetLagThreshold \(deprecated\), not both/);
  });
});

describe('dashboard and outputs', () => {
  it('dashboard: false leaves the dashboard and its output out', () => {
    // Prepare / Act
    const { stack, collector } = userStack({ dashboard: false });
    // Assess
    const template = Template.fromStack(stack);
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 0);
    expect(collector.dashboard).toBeUndefined();
    expect(Object.keys(template.findOutputs('DashboardName'))).toEqual([]);
    template.hasOutput('TableName', Match.anyValue());
  });

  it("names the outputs as `inspect --stack` reads them, in the user's own stack", () => {
    // Prepare / Act
    const { stack, collector } = userStack();
    // Assess
    const template = Template.fromStack(stack);
    template.hasOutput('TableName', { Value: { Ref: Match.stringLikeRegexp('^CollectorTable') } });
    template.hasOutput('InputTopic', { Value: TOPICS.input });
    template.hasOutput('DeadLetterTopic', { Value: TOPICS.deadLetter });
    template.hasOutput('StreamFailureQueueUrl', Match.anyValue());
    template.hasOutput('KafkaConsumerGroupId', { Value: collector.consumerGroupId });
  });

  it('a second collector in one stack needs its own outputPrefix, or outputs: false', () => {
    // Prepare
    const { stack } = userStack();
    const kafka = {
      kind: 'self-managed',
      bootstrapServers: ['kafka-1.example.com:9096'],
      auth: 'scram-sha-512',
      secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret2', SELF_SECRET),
    } as const;
    // Act
    let clash: unknown;
    try {
      new GroupCollector(stack, 'Second', { kafka, consumerGroupId: 'second' });
    } catch (error) {
      clash = error;
    }
    new GroupCollector(stack, 'Third', { kafka, consumerGroupId: 'third', outputPrefix: 'Orders' });
    // Assess
    expect(clash).toBeInstanceOf(GroupCollectorValidationError);
    expect(String(clash)).toMatch(/give this one a different outputPrefix, or outputs: false/);
    Template.fromStack(stack).hasOutput('OrdersTableName', Match.anyValue());
  });
});

describe('customer managed key', () => {
  it('encrypts the table, the stream-failure queue and the log groups, and lets CloudWatch Logs and the functions use it', () => {
    // Prepare / Act
    const { stack } = userStack(
      (scope) => ({
        consumerGroupId: 'keyed',
        encryptionKey: new kms.Key(scope, 'Key', { enableKeyRotation: true }),
      }),
      'Keyed',
    );
    // Assess
    const template = Template.fromStack(stack);
    const keyArn = { 'Fn::GetAtt': [Match.stringLikeRegexp('^Key'), 'Arn'] };
    template.hasResourceProperties('AWS::DynamoDB::Table', {
      SSESpecification: { SSEEnabled: true, SSEType: 'KMS', KMSMasterKeyId: keyArn },
    });
    template.hasResourceProperties('AWS::SQS::Queue', { KmsMasterKeyId: keyArn });
    template.allResourcesProperties('AWS::Logs::LogGroup', { KmsKeyId: keyArn });
    template.hasResourceProperties('AWS::KMS::Key', {
      KeyPolicy: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Principal: { Service: { 'Fn::Join': ['', ['logs.', { Ref: 'AWS::Region' }, '.amazonaws.com']] } },
          }),
        ]),
      },
    });
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Action: ['kms:Decrypt', 'kms:Encrypt', 'kms:GenerateDataKey', 'kms:DescribeKey'],
            Resource: keyArn,
          }),
        ]),
      },
    });
    // Fixed, so no longer acknowledged.
    expect(JSON.stringify(template.toJSON())).not.toContain('CLOUDWATCH_LOG_GROUP_ENCRYPTED');
  });
});

describe('reserved concurrency and durations', () => {
  it('reserves what is asked per function, and passes Durations to the functions as seconds', () => {
    // Prepare / Act
    const { stack } = userStack({
      reservedConcurrency: { collector: 6, timeouts: 2 },
      retention: Duration.days(1),
      earlyReportWait: Duration.minutes(5),
      maxTtl: Duration.hours(12),
    });
    // Assess
    const template = Template.fromStack(stack);
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: collector',
      ReservedConcurrentExecutions: 6,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: timeouts',
      ReservedConcurrentExecutions: 2,
    });
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: sweeper',
      ReservedConcurrentExecutions: Match.absent(),
    });
    for (const env of environmentOf(template)) {
      expect(env[ENV.retentionSeconds]).toBe('86400');
      expect(env[ENV.earlyReportWaitSeconds]).toBe('300');
      expect(env[ENV.maxTtlSeconds]).toBe('43200');
    }
  });

  it('the deprecated number props still work; given with their Duration, or not whole seconds, they are refused', () => {
    // Prepare / Act
    const { stack } = userStack({ retentionSeconds: 3600, sweeperReservedConcurrency: 1 });
    const both = () => userStack({ retention: Duration.days(1), retentionSeconds: 3600 });
    const fraction = () => userStack({ earlyReportWait: Duration.millis(1500) });
    // Assess
    const template = Template.fromStack(stack);
    for (const env of environmentOf(template)) expect(env[ENV.retentionSeconds]).toBe('3600');
    template.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: sweeper',
      ReservedConcurrentExecutions: 1,
    });
    expect(both).toThrow(/give retention or retentionSeconds \(deprecated\), not both/);
    expect(() => userStack({ retention: Duration.minutes(30) })).toThrow(
      /retention must be at least 3600 seconds \(the Kafka mapping's maximum record age/,
    );
    expect(fraction).toThrow(
      /earlyReportWait must be a positive whole number of seconds; got 1 second 500 millis/,
    );
  });
});

describe('validation and synth messages', () => {
  it('throws a GroupCollectorValidationError listing every problem, in terms of props', () => {
    // Prepare
    let caught: unknown;
    // Act
    try {
      userStack({
        kafka: {
          kind: 'msk',
          clusterArn: 'not-an-arn',
          bootstrapServers: ['b-1:9096'],
          auth: 'scram-sha-512',
        },
        reservedConcurrency: { collector: 0 },
        alarms: { deadLetters: { evaluationPeriods: 0 } },
      });
    } catch (error) {
      caught = error;
    }
    // Assess
    expect(caught).toBeInstanceOf(GroupCollectorValidationError);
    const { problems, name, message } = caught as GroupCollectorValidationError;
    expect(name).toBe('GroupCollectorValidationError');
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/kafka.clusterArn "not-an-arn" is not an MSK cluster ARN/),
        expect.stringMatching(/MSK with SASL\/SCRAM needs kafka.secretKey:/),
        expect.stringMatching(/reservedConcurrency.collector must be a positive whole number; got 0/),
        expect.stringMatching(/alarms.deadLetters.evaluationPeriods must be a positive whole number/),
      ]),
    );
    expect(message).not.toMatch(/context|docs\//);
  });

  it('warns (not informs) of the derived consumer group id, naming the prop that keeps the old one', () => {
    // Prepare / Act
    const { stack } = userStack({ consumerGroupId: undefined, alarms: false });
    // Assess
    const [warning] = Annotations.fromStack(stack).findWarning('*', Match.anyValue());
    const text = String(warning?.entry.data);
    expect(text).toContain(WARNINGS.consumerGroupIdDerived);
    expect(text).toContain(`"${LEGACY_CONSUMER_GROUP_ID}": set legacyConsumerGroupId: true`);
    expect(text).not.toMatch(/context|docs\//);
    expect(Annotations.fromStack(stack).findInfo('*', Match.anyValue())).toEqual([]);
  });

  it('passes the NIST 800-53 rev 5 checks when every prop that fixes a finding is set', () => {
    // Prepare / Act
    const { stack } = userStack(
      (scope) => ({
        consumerGroupId: 'strict',
        encryptionKey: new kms.Key(scope, 'Key', { enableKeyRotation: true }),
        alarmTopic: sns.Topic.fromTopicArn(scope, 'Topic', `arn:aws:sns:${REGION}:${ACCOUNT}:on-call`),
        reservedConcurrency: { collector: 6, timeouts: 2, sweeper: 1 },
      }),
      'Strict',
    );
    const report = new NIST80053R5Checks().validateScope(stack);
    // Assess
    expect(report.violations).toEqual([]);
    // The outcome key generator keeps its concurrency finding: CloudFormation invokes it once per
    // deployment, and no prop reserves concurrency for it.
    const resources = Template.fromStack(stack).toJSON().Resources as Record<string, unknown>;
    const suppressed = JSON.stringify(
      Object.entries(resources).filter(([id]) => !id.includes('OutcomeKeyGenerator')),
    );
    for (const rule of [
      'LAMBDA_CONCURRENCY_CHECK',
      'CLOUDWATCH_ALARM_ACTION_CHECK',
      'SQS_QUEUE_KMS_MASTER_KEY_ID_RULE',
      'SECRETSMANAGER_USING_CMK',
      'CLOUDWATCH_LOG_GROUP_ENCRYPTED',
    ]) {
      expect(suppressed).not.toContain(rule);
    }
  });
});

describe('doc comments', () => {
  const source = ['collector-props.ts', 'kafka-access.ts', 'group-collector.ts']
    .map((file) => readFileSync(resolve(import.meta.dirname, '..', '..', 'infra', 'lib', file), 'utf8'))
    .join('\n');
  const comments = (source.match(/\/\*\*[\s\S]*?\*\//g) ?? []).join('\n');

  it('name no unexported constant: an editor shows the default itself', () => {
    // Prepare / Act
    const named = comments.match(
      /\b(DEFAULTS|TOPICS|KAFKA_ESM|LIMITS|STREAM_ESM)\.\w+|LOCAL_TOPIC_PARTITIONS/g,
    );
    // Assess
    expect(named).toBeNull();
  });

  it('state the defaults the code uses', () => {
    // Prepare
    const day = 24 * 3600;
    // Act / Assess
    expect(comments).toContain(`Consumed by the collector. Default \`"${TOPICS.input}"\``);
    expect(comments).toContain(`Outcomes. Default \`"${TOPICS.outcomes}"\``);
    expect(comments).toContain(`Dead letters. Default \`"${TOPICS.deadLetter}"\``);
    expect(comments).toContain(`Default \`"${TOPICS.esmFailure}"\``);
    expect(comments).toContain(`Default \`StartingPosition.${KAFKA_ESM.startingPosition}\``);
    expect(comments).toContain(`maximumPollers: ${LOCAL_TOPIC_PARTITIONS} }`);
    expect(comments).toContain(`Default \`"${DEFAULTS.metricsNamespace}"\``);
    expect(DEFAULTS.retentionSeconds).toBe(7 * day);
    expect(comments).toContain('(the Kafka mapping’s maximum record age). Default 7 days.');
    expect(DEFAULTS.earlyReportWaitSeconds).toBe(600);
    expect(comments).toContain('dead-lettered. Whole seconds. Default 10 minutes.');
    expect(LIMITS.maxTtlSeconds).toBe(7 * day);
    expect(comments).toContain('may ask for. Whole seconds. Default 7 days.');
    expect(comments).toContain(`\`"${LEGACY_CONSUMER_GROUP_ID}"\``);
  });
});
