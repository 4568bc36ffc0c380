/**
 * The three Lambda functions (each with its own role and log group, and the environment they share
 * from the props) and what triggers the timeouts function and the sweeper: the table's stream
 * mapping and the schedule. The collector's Kafka mapping is in kafka-mapping.ts.
 */
import { join } from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { STREAM_ESM, SWEEPER } from '#shared/aws.ts';
import { DEFAULTS, ENV, LIMITS } from '#shared/config.ts';
import { TTL_STREAM_FILTERS } from '#store/layout.ts';
import type { GroupCollectorProps } from './collector-props.ts';
import type { GroupCollector } from './group-collector.ts';
import { handlersDir } from './handlers.ts';
import { producerTls } from './kafka-access.ts';

/** Lambda's ENI management in a VPC, and the MSK mapping's look-ups of the cluster's network. */
export const VPC_ACTIONS = [
  'ec2:CreateNetworkInterface',
  'ec2:DescribeNetworkInterfaces',
  'ec2:DeleteNetworkInterface',
  'ec2:AssignPrivateIpAddresses',
  'ec2:UnassignPrivateIpAddresses',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
  'ec2:DescribeVpcs',
];

export function commonEnvironment(
  construct: GroupCollector,
  props: GroupCollectorProps,
): Record<string, string> {
  const { kafka } = props;
  const env: Record<string, string> = {
    [ENV.tableName]: construct.table.tableName,
    [ENV.kafkaBrokers]: kafka.bootstrapServers.join(','),
    [ENV.kafkaAuth]: kafka.auth,
    [ENV.kafkaTls]: String(producerTls(kafka)),
    [ENV.outcomeTopic]: construct.topics.outcomes,
    [ENV.deadLetterTopic]: construct.topics.deadLetter,
    [ENV.retentionSeconds]: String(
      seconds(props.retention, props.retentionSeconds, DEFAULTS.retentionSeconds),
    ),
    [ENV.earlyReportWaitSeconds]: String(
      seconds(props.earlyReportWait, props.earlyReportWaitSeconds, DEFAULTS.earlyReportWaitSeconds),
    ),
    [ENV.maxTtlSeconds]: String(seconds(props.maxTtl, props.maxTtlSeconds, LIMITS.maxTtlSeconds)),
    [ENV.metricsNamespace]: construct.metricsNamespace,
    [ENV.deployment]: construct.deployment,
    // Stack traces through the source maps, only when they are uploaded: loading them slows cold starts.
    ...(props.sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
  };
  if (kafka.secret) env[ENV.kafkaSecretArn] = kafka.secret.secretArn;
  if (kafka.kind === 'self-managed' && kafka.rootCaSecret) {
    env[ENV.kafkaRootCaSecretArn] = kafka.rootCaSecret.secretArn;
  }
  return env;
}

/** The Duration prop, else its deprecated number of seconds, else the default (validated before). */
function seconds(duration: Duration | undefined, deprecated: number | undefined, fallback: number): number {
  return duration?.toSeconds() ?? deprecated ?? fallback;
}

/**
 * A function's log group (`<id>Logs`) and its own role (`<id>Role`): no AWS managed policies, logs
 * only to that group, plus `policies`.
 */
export function loggingRole(
  scope: Construct,
  id: string,
  props: GroupCollectorProps,
  removalPolicy: RemovalPolicy,
  description: string,
  policies: Record<string, iam.PolicyDocument> = {},
): { logGroup: logs.LogGroup; role: iam.Role } {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    encryptionKey: props.encryptionKey,
    removalPolicy,
  });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
    description,
    inlinePolicies: {
      logs: new iam.PolicyDocument({
        statements: [
          new iam.PolicyStatement({
            actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
            resources: [logGroup.logGroupArn],
          }),
        ],
      }),
      ...policies,
    },
  });
  return { logGroup, role };
}

export function createFunction(
  scope: Construct,
  id: string,
  settings: { name: string; memoryMb: number; timeoutSeconds: number },
  props: GroupCollectorProps,
  removalPolicy: RemovalPolicy,
  environment: Record<string, string>,
  reservedConcurrentExecutions?: number,
): lambda.Function {
  // Network permissions are inline so that they exist before Lambda creates the VPC function.
  const { logGroup, role } = loggingRole(
    scope,
    id,
    props,
    removalPolicy,
    `group collector: ${settings.name} function`,
    props.network
      ? {
          network: new iam.PolicyDocument({
            statements: [new iam.PolicyStatement({ actions: VPC_ACTIONS, resources: ['*'] })],
          }),
        }
      : {},
  );
  const { network } = props;
  // Pre-bundled by `npm run build` (scripts/build.ts): no bundler, Docker or lock file at synth time.
  // The AWS SDK v3 comes from the Node.js 22 runtime.
  const code = lambda.Code.fromAsset(join(handlersDir(), settings.name), {
    exclude: props.sourceMaps ? [] : ['*.map'],
  });
  return new lambda.Function(scope, id, {
    description: `group collector: ${settings.name}`,
    code,
    handler: 'index.handler',
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: settings.memoryMb,
    timeout: Duration.seconds(settings.timeoutSeconds),
    role,
    logGroup,
    environment,
    reservedConcurrentExecutions,
    ...(network
      ? { vpc: network.vpc, vpcSubnets: network.subnets, securityGroups: [...network.securityGroups] }
      : {}),
  });
}

export function createStreamMapping(construct: GroupCollector): void {
  construct.functions.timeouts.addEventSource(
    new DynamoEventSource(construct.table, {
      startingPosition: lambda.StartingPosition[STREAM_ESM.startingPosition as 'TRIM_HORIZON'],
      batchSize: STREAM_ESM.batchSize,
      maxBatchingWindow: Duration.seconds(STREAM_ESM.maximumBatchingWindowSeconds),
      retryAttempts: STREAM_ESM.maximumRetryAttempts,
      maxRecordAge: Duration.seconds(STREAM_ESM.maximumRecordAgeSeconds),
      bisectBatchOnError: STREAM_ESM.bisectBatchOnFunctionError,
      reportBatchItemFailures: STREAM_ESM.reportBatchItemFailures,
      parallelizationFactor: STREAM_ESM.parallelizationFactor,
      filters: TTL_STREAM_FILTERS.map((pattern) => lambda.FilterCriteria.filter(pattern)),
      onFailure: new SqsDlq(construct.streamFailureQueue),
    }),
  );
}

export function scheduleSweeper(construct: GroupCollector): void {
  const { sweeper } = construct.functions;
  // One run a minute; an overlapping or throttled run is dropped, not queued: the next one takes over.
  sweeper.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });
  new events.Rule(construct, 'SweeperSchedule', {
    description: `group collector: sweep due deadlines every ${SWEEPER.scheduleMinutes} minute(s)`,
    schedule: events.Schedule.rate(Duration.minutes(SWEEPER.scheduleMinutes)),
    targets: [new targets.LambdaFunction(sweeper, { retryAttempts: 0, maxEventAge: Duration.seconds(60) })],
  });
}
