/**
 * CDK context → CollectorStackProps. Every parameter is documented in
 * docs/deploy.md. With no Kafka context at all, example values are used so
 * that `cdk synth` works offline; as soon as one Kafka value is given, the
 * rest must be given too (no example silently mixed with real values).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type { CollectorStackProps } from './collector-stack.ts';
import { LOG_RETENTION_DAYS } from './group-collector.ts';
import type { KafkaAuth } from './kafka-access.ts';

export type ContextReader = (key: string) => unknown;

/** The context keys read, for documentation and for rejecting typos. */
export const CONTEXT_KEYS = [
  'kafka',
  'mskClusterArn',
  'bootstrapServers',
  'kafkaAuth',
  'kafkaSecretArn',
  'kafkaSecretKmsKeyArn',
  'kafkaRootCaSecretArn',
  'kafkaTls',
  'vpcId',
  'subnetIds',
  'securityGroupIds',
  'inputTopic',
  'outcomeTopic',
  'deadLetterTopic',
  'esmFailureTopic',
  'replyToTopics',
  'consumerGroupId',
  'legacyConsumerGroupId',
  'startingPosition',
  'provisionedPollers',
  'pollerGroupName',
  'tableName',
  'removalPolicy',
  'logRetentionDays',
  'alarmTopicArn',
  'retentionSeconds',
  'earlyReportWaitSeconds',
  'sweeperReservedConcurrency',
  'metricsNamespace',
  'deployment',
  'sourceMaps',
  'stackName',
  'account',
  'region',
] as const;

/** Example values: a cluster that does not exist, in a documentation account. */
export const EXAMPLES = {
  msk: {
    mskClusterArn:
      'arn:aws:kafka:eu-west-1:111122223333:cluster/eventbus/6f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c-3',
    bootstrapServers: [
      'b-1.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9098',
      'b-2.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9098',
    ],
    kafkaAuth: 'iam',
    vpcId: 'vpc-0a1b2c3d4e5f67890',
    subnetIds: ['subnet-0a1b2c3d4e5f67891', 'subnet-0a1b2c3d4e5f67892'],
    securityGroupIds: ['sg-0a1b2c3d4e5f67893'],
  },
  selfManaged: {
    bootstrapServers: ['kafka-1.example.com:9096', 'kafka-2.example.com:9096'],
    kafkaAuth: 'scram-sha-512',
    kafkaSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:eventbus/collector-kafka-AbCdEf',
  },
} as const;

export interface ContextResult {
  readonly stackName: string;
  readonly props: CollectorStackProps;
  /** True when the example values were used (nothing about Kafka was given). */
  readonly usedExamples: boolean;
}

export function stackPropsFromContext(get: ContextReader): ContextResult {
  const str = (key: string): string | undefined => {
    const value = get(key);
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value === 'string') return value.trim();
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    throw new Error(`context ${key} must be a string; got ${JSON.stringify(value)}`);
  };
  const list = (key: string): string[] | undefined => {
    const value = get(key);
    if (Array.isArray(value)) return value.map(String);
    return str(key)
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  };
  const int = (key: string): number | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (!Number.isInteger(n) || n <= 0)
      throw new Error(`context ${key} must be a positive whole number; got "${raw}"`);
    return n;
  };
  const bool = (key: string): boolean | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    if (raw !== 'true' && raw !== 'false')
      throw new Error(`context ${key} must be true or false; got "${raw}"`);
    return raw === 'true';
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[]): T | undefined => {
    const raw = str(key);
    if (raw === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(raw)) {
      throw new Error(`context ${key} must be one of ${allowed.join(', ')}; got "${raw}"`);
    }
    return raw as T;
  };

  const kafka = oneOf('kafka', ['msk', 'self-managed'] as const) ?? 'msk';
  const kafkaKeys = [
    'mskClusterArn',
    'bootstrapServers',
    'kafkaAuth',
    'kafkaSecretArn',
    'vpcId',
    'subnetIds',
  ];
  const usedExamples = kafkaKeys.every((key) => str(key) === undefined && get(key) === undefined);
  const example: Partial<Record<string, string | readonly string[]>> = usedExamples
    ? kafka === 'msk'
      ? EXAMPLES.msk
      : EXAMPLES.selfManaged
    : {};
  const pick = (key: string): string | undefined => str(key) ?? (example[key] as string | undefined);
  const pickList = (key: string): string[] | undefined => list(key) ?? (example[key] as string[] | undefined);

  const bootstrapServers = pickList('bootstrapServers');
  if (!bootstrapServers || bootstrapServers.length === 0) {
    throw new Error(
      'context bootstrapServers is required (comma-separated host:port) once Kafka context is given',
    );
  }
  const account = str('account');
  const region = str('region');
  const props: CollectorStackProps = {
    ...(account || region ? { env: { account, region } } : {}),
    kafka,
    mskClusterArn: pick('mskClusterArn'),
    bootstrapServers,
    kafkaAuth:
      oneOf<KafkaAuth>('kafkaAuth', ['iam', 'scram-sha-512', 'mtls', 'none']) ??
      (example.kafkaAuth as KafkaAuth),
    kafkaSecretArn: pick('kafkaSecretArn'),
    kafkaSecretKmsKeyArn: str('kafkaSecretKmsKeyArn'),
    kafkaRootCaSecretArn: str('kafkaRootCaSecretArn'),
    kafkaTls: bool('kafkaTls'),
    vpcId: pick('vpcId'),
    subnetIds: pickList('subnetIds'),
    securityGroupIds: pickList('securityGroupIds'),
    topics: {
      input: str('inputTopic'),
      outcomes: str('outcomeTopic'),
      deadLetter: str('deadLetterTopic'),
      esmFailure: str('esmFailureTopic'),
    },
    replyToTopics: list('replyToTopics'),
    consumerGroupId: str('consumerGroupId'),
    legacyConsumerGroupId: bool('legacyConsumerGroupId'),
    startingPosition: oneOf('startingPosition', ['TRIM_HORIZON', 'LATEST'] as const),
    provisionedPollers: pollers(str('provisionedPollers'), str('pollerGroupName')),
    tableName: str('tableName'),
    removalPolicy: removal(oneOf('removalPolicy', ['retain', 'destroy'] as const)),
    logRetentionDays: retentionDays(int('logRetentionDays')),
    alarmTopicArn: str('alarmTopicArn'),
    retentionSeconds: int('retentionSeconds'),
    earlyReportWaitSeconds: int('earlyReportWaitSeconds'),
    sweeperReservedConcurrency: int('sweeperReservedConcurrency'),
    metricsNamespace: str('metricsNamespace'),
    deployment: str('deployment'),
    sourceMaps: bool('sourceMaps'),
  };
  return { stackName: str('stackName') ?? 'GroupCollector', props, usedExamples };
}

/** One of the values CloudFormation accepts, or a message that lists them. */
function retentionDays(days: number | undefined): logs.RetentionDays | undefined {
  if (days === undefined) return undefined;
  if (!LOG_RETENTION_DAYS.includes(days)) {
    throw new Error(
      `context logRetentionDays ${days} is not a value CloudFormation accepts: use one of ${LOG_RETENTION_DAYS.join(', ')}`,
    );
  }
  return days as logs.RetentionDays;
}

/** `off`, or `min-max` (e.g. `1-6`); default: the construct's default. */
function pollers(
  raw: string | undefined,
  groupName: string | undefined,
): lambda.ProvisionedPollerConfig | false | undefined {
  if (raw === undefined) return groupName ? { pollerGroupName: groupName } : undefined;
  if (raw === 'off' || raw === 'false') return false;
  const m = /^(\d+)-(\d+)$/.exec(raw);
  if (!m)
    throw new Error(`context provisionedPollers must be "off" or "<min>-<max>" (e.g. 1-6); got "${raw}"`);
  return {
    minimumPollers: Number(m[1]),
    maximumPollers: Number(m[2]),
    ...(groupName ? { pollerGroupName: groupName } : {}),
  };
}

/** No `snapshot`: no resource of the stack supports it (docs/deploy.md, "Removal"). */
function removal(raw: 'retain' | 'destroy' | undefined): RemovalPolicy | undefined {
  if (raw === undefined) return undefined;
  return { retain: RemovalPolicy.RETAIN, destroy: RemovalPolicy.DESTROY }[raw];
}
