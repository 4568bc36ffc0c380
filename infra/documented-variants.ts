/**
 * Every deployment the documentation shows (docs/deploy.md, README), as the CDK context it gives.
 * scripts/synth-variants.ts synthesizes each one exactly as `cdk synth` would (the app's context
 * parsing, the stack, cdk-nag), and scripts/cfn-lint.sh lints each template: a variant a user can
 * copy from the docs is a variant CI has deployed-checked.
 */
import { EXAMPLES } from './lib/context.ts';

export interface DocumentedVariant {
  /** Where the documentation shows it. */
  readonly documentedIn: string;
  readonly context: Readonly<Record<string, string>>;
  /**
   * Synth warnings this variant is expected to raise, by annotation id, each explained in
   * docs/deploy.md ("Synth and lint warnings"). Any other warning fails CI.
   */
  readonly expectedWarnings?: readonly string[];
}

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const MSK = `arn:aws:kafka:${REGION}:${ACCOUNT}:cluster/eventbus/6f1c2a3b-1d2e-4f5a-9b8c-7d6e5f4a3b2c-3`;
const NETWORK = {
  vpcId: 'vpc-0a1b2c3d4e5f67890',
  subnetIds: 'subnet-0a1b2c3d4e5f67891,subnet-0a1b2c3d4e5f67892',
  securityGroupIds: 'sg-0a1b2c3d4e5f67893',
};
const ENVIRONMENT = { account: ACCOUNT, region: REGION };
const MSK_IAM = {
  kafka: 'msk',
  mskClusterArn: MSK,
  bootstrapServers:
    'b-1.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9098,b-2.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9098',
  ...NETWORK,
  ...ENVIRONMENT,
};
/** A deployment without an alarm topic or a consumer group id of its own is warned of both. */
const NEW_DEFAULTS = ['group-collector:alarms-notify-no-one', 'group-collector:consumer-group-id-derived'];
const SELF_SECRET = `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:eventbus/collector-kafka-AbCdEf`;

export const DOCUMENTED_VARIANTS: Readonly<Record<string, DocumentedVariant>> = {
  'example-msk': {
    documentedIn: 'docs/deploy.md (no context: the MSK example)',
    context: {},
    expectedWarnings: NEW_DEFAULTS,
  },
  'example-self-managed': {
    documentedIn: 'docs/deploy.md (kafka=self-managed only: the self-managed example)',
    context: { kafka: 'self-managed' },
    expectedWarnings: NEW_DEFAULTS,
  },
  'msk-iam': {
    documentedIn: 'docs/deploy.md "Amazon MSK" step 3',
    context: MSK_IAM,
    expectedWarnings: NEW_DEFAULTS,
  },
  'msk-scram': {
    documentedIn: 'docs/deploy.md "Amazon MSK" step 4',
    context: {
      ...MSK_IAM,
      kafkaAuth: 'scram-sha-512',
      bootstrapServers: 'b-1.eventbus.abcdef.c3.kafka.eu-west-1.amazonaws.com:9096',
      kafkaSecretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:AmazonMSK_collector-AbCdEf`,
      kafkaSecretKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
    },
    expectedWarnings: NEW_DEFAULTS,
  },
  'self-managed-scram-public': {
    documentedIn: 'docs/deploy.md "Self-managed Kafka" step 2',
    context: {
      kafka: 'self-managed',
      kafkaAuth: 'scram-sha-512',
      bootstrapServers: EXAMPLES.selfManaged.bootstrapServers.join(','),
      kafkaSecretArn: SELF_SECRET,
    },
    expectedWarnings: NEW_DEFAULTS,
  },
  'self-managed-private': {
    documentedIn: 'docs/deploy.md "Self-managed Kafka" step 3',
    context: {
      kafka: 'self-managed',
      kafkaAuth: 'scram-sha-512',
      bootstrapServers: 'kafka-1.internal:9096,kafka-2.internal:9096',
      kafkaSecretArn: SELF_SECRET,
      ...NETWORK,
      ...ENVIRONMENT,
    },
    expectedWarnings: NEW_DEFAULTS,
  },
  'self-managed-mtls-root-ca': {
    documentedIn: 'docs/deploy.md "Self-managed Kafka" step 1 (mutual TLS, private CA, customer managed key)',
    context: {
      kafka: 'self-managed',
      kafkaAuth: 'mtls',
      bootstrapServers: 'kafka-1.example.com:9094',
      kafkaSecretArn: SELF_SECRET,
      kafkaRootCaSecretArn: `arn:aws:secretsmanager:${REGION}:${ACCOUNT}:secret:eventbus/kafka-root-ca-GhIjKl`,
      kafkaSecretKmsKeyArn: `arn:aws:kms:${REGION}:${ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab`,
      ...ENVIRONMENT,
    },
    expectedWarnings: NEW_DEFAULTS,
  },
  'self-managed-unauthenticated-private': {
    documentedIn: 'docs/deploy.md "Self-managed Kafka" step 3 (kafkaAuth=none, kafkaTls=true)',
    context: {
      kafka: 'self-managed',
      kafkaAuth: 'none',
      kafkaTls: 'true',
      bootstrapServers: 'kafka-1.internal:9094',
      ...NETWORK,
      ...ENVIRONMENT,
    },
    expectedWarnings: [...NEW_DEFAULTS, 'group-collector:kafka-unauthenticated'],
  },
  'pollers-off': {
    documentedIn: 'docs/deploy.md "Context parameters" (provisionedPollers=off)',
    context: { ...MSK_IAM, provisionedPollers: 'off' },
    expectedWarnings: NEW_DEFAULTS,
  },
  'removal-destroy': {
    documentedIn: 'docs/deploy.md "Removal" (removalPolicy=destroy)',
    context: { ...MSK_IAM, removalPolicy: 'destroy' },
    expectedWarnings: NEW_DEFAULTS,
  },
  'legacy-consumer-group': {
    documentedIn: 'docs/deploy.md "Consumer group id" (legacyConsumerGroupId=true)',
    context: { ...MSK_IAM, legacyConsumerGroupId: 'true' },
    expectedWarnings: ['group-collector:alarms-notify-no-one'],
  },
  'every-option': {
    documentedIn: 'docs/deploy.md "Context parameters" (every other key set)',
    context: {
      ...MSK_IAM,
      stackName: 'GroupCollectorStaging',
      inputTopic: 'orders.collector',
      outcomeTopic: 'orders.outcomes',
      deadLetterTopic: 'orders.collector.dlq',
      esmFailureTopic: 'orders.collector.esm-failures',
      replyToTopics: 'replies.orders,replies-*',
      consumerGroupId: 'orders-collector-staging',
      startingPosition: 'LATEST',
      provisionedPollers: '2-4',
      pollerGroupName: 'eventbus',
      tableName: 'orders-collector-staging',
      logRetentionDays: '14',
      alarmTopicArn: `arn:aws:sns:${REGION}:${ACCOUNT}:collector-alarms`,
      retentionSeconds: '86400',
      earlyReportWaitSeconds: '300',
      sweeperReservedConcurrency: '1',
      metricsNamespace: 'Orders/GroupCollector',
      deployment: 'staging',
      sourceMaps: 'true',
    },
  },
};

/**
 * The example CDK apps (examples/, each using the construct as a package user does), by variant
 * name: synthesized, checked and linted like the context variants. Each module exports its `app`.
 */
export const EXAMPLE_APPS: Readonly<
  Record<string, { readonly path: string; readonly documentedIn: string }>
> = {
  'app-msk-iam': { path: 'examples/msk-iam.ts', documentedIn: 'README "The construct", docs/deploy.md' },
  'app-msk-scram': { path: 'examples/msk-scram.ts', documentedIn: 'docs/deploy.md "Using the construct"' },
  'app-self-managed': {
    path: 'examples/self-managed.ts',
    documentedIn: 'docs/deploy.md "Using the construct"',
  },
};
