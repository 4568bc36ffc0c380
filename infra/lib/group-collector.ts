/**
 * The group collector on AWS: one DynamoDB table, the collector fed by a Kafka
 * event source mapping (MSK or self-managed), the timeouts function fed by the
 * table's stream (TTL deletions only), the punctual-deadline sweeper, and the
 * alarms and dashboard that watch them. Every shared name and setting comes
 * from functions/shared/config.ts.
 *
 * This module is the construct itself: its props are in collector-props.ts (checked in
 * validation.ts), and it assembles the table (table.ts), the functions and their stream and
 * schedule triggers (functions.ts), the Kafka mapping and produce grants (kafka-mapping.ts), the
 * alarms, dashboard and outputs (operations.ts) and the acknowledged check findings
 * (acknowledgements.ts).
 */
import { Annotations, Aws, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LOCAL_TOPIC_PARTITIONS } from '#local/settings.ts';
import { FUNCTIONS, KAFKA_ESM, STREAM_ESM } from '#shared/aws.ts';
import { DEFAULTS, ENV, TOPICS } from '#shared/config.ts';
import { METRIC_NAMES, METRICS } from '#shared/metrics.ts';
import {
  acknowledgeComplianceFindings,
  acknowledgeLintFindings,
  acknowledgeNagFindings,
} from './acknowledgements.ts';
import {
  type CollectorFunctions,
  type CollectorTopics,
  type GroupCollectorProps,
  LEGACY_CONSUMER_GROUP_ID,
} from './collector-props.ts';
import { commonEnvironment, createFunction, createStreamMapping, scheduleSweeper } from './functions.ts';
import { type GrantClientOptions, grantClient, grantProduce } from './grants.ts';
import { type KafkaCluster, type MskClusterArn, parseMskClusterArn } from './kafka-access.ts';
import { createKafkaMapping, grantKafkaProduce } from './kafka-mapping.ts';
import { createAlarms, createDashboard, createOutputs } from './operations.ts';
import { createOutcomeSigning, grantSigningSecret } from './outcome-signing.ts';
import { createTable, grantTable } from './table.ts';
import { consumerGroupIdOf, validate, warnInsecureKafka } from './validation.ts';

export {
  type AlarmSettings,
  type CollectorAlarms,
  type CollectorFunctions,
  type CollectorReservedConcurrency,
  type CollectorTopics,
  type GroupCollectorProps,
  LEGACY_CONSUMER_GROUP_ID,
  LOG_RETENTION_DAYS,
  REMOVAL_POLICIES,
} from './collector-props.ts';
export { VPC_ACTIONS } from './functions.ts';
export type { GrantClientOptions } from './grants.ts';
export type { CollectorNetwork, KafkaCluster, MskKafka, SelfManagedKafka } from './kafka-access.ts';
export { GroupCollectorValidationError } from './validation.ts';

/** The ids of the synth warnings the construct raises (acknowledge one with `Annotations.of(scope).acknowledgeWarning`). */
export const WARNINGS = {
  /** Alarms are created but no `alarmTopic` is set. */
  alarmsNotifyNoOne: 'group-collector:alarms-notify-no-one',
  /** The consumer group id is derived (neither `consumerGroupId` nor `legacyConsumerGroupId` is set). */
  consumerGroupIdDerived: 'group-collector:consumer-group-id-derived',
  /** `kafka.auth` is `none`. */
  kafkaUnauthenticated: 'group-collector:kafka-unauthenticated',
  /** `kafka.tls` is off. */
  kafkaPlaintext: 'group-collector:kafka-plaintext',
} as const;

export class GroupCollector extends Construct {
  readonly table: dynamodb.Table;
  /**
   * The collector's outcome public keys (`kid:x`, comma-separated while a rotation is under way),
   * resolved at deployment: what the client's `outcomeKeys` take. Also the stack output `OutcomePublicKeys`.
   */
  readonly outcomePublicKeys: string;
  /** The secret holding the outcome signing key set: readable by the three functions only. */
  readonly outcomeSigningSecret: secretsmanager.ISecret;
  readonly functions: CollectorFunctions;
  readonly kafkaMapping: lambda.EventSourceMapping;
  /** On-failure destination of the stream mapping. */
  readonly streamFailureQueue: sqs.Queue;
  readonly topics: Required<CollectorTopics>;
  /** The alarms created (none with `alarms: false`). */
  readonly alarms: cloudwatch.Alarm[] = [];
  /** The dashboard; undefined with `dashboard: false`. */
  readonly dashboard: cloudwatch.Dashboard | undefined;
  /** The customer managed key of the table, the queue and the log groups, when one is given. */
  readonly encryptionKey: kms.IKey | undefined;
  /** Whether the Kafka mapping returns partial batch responses (and the collector reports item failures). */
  readonly kafkaReportsBatchItemFailures: boolean;
  /** The Kafka mapping's consumer group id. */
  readonly consumerGroupId: string;
  /** CloudWatch namespace and `deployment` dimension of the functions' metrics. */
  readonly metricsNamespace: string;
  readonly deployment: string;

  private readonly removalPolicy: RemovalPolicy;
  private readonly msk: MskClusterArn | undefined;
  private readonly kafka: KafkaCluster;

  constructor(scope: Construct, id: string, props: GroupCollectorProps) {
    super(scope, id);
    this.kafka = props.kafka;
    this.topics = {
      input: props.topics?.input ?? TOPICS.input,
      outcomes: props.topics?.outcomes ?? TOPICS.outcomes,
      deadLetter: props.topics?.deadLetter ?? TOPICS.deadLetter,
      esmFailure: props.topics?.esmFailure ?? TOPICS.esmFailure,
    };
    validate(this, props, this.topics);
    warnInsecureKafka(this, props.kafka);
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.encryptionKey = props.encryptionKey;
    // CloudWatch Logs encrypts the log groups with the key on its own behalf: a key made in this app
    // gets the statement it needs (an imported key's policy is its owner's; docs state what it needs).
    props.encryptionKey?.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal(`logs.${Aws.REGION}.amazonaws.com`)],
        actions: ['kms:Encrypt*', 'kms:Decrypt*', 'kms:ReEncrypt*', 'kms:GenerateDataKey*', 'kms:Describe*'],
        resources: ['*'],
        conditions: {
          ArnLike: {
            'kms:EncryptionContext:aws:logs:arn': `arn:${Aws.PARTITION}:logs:${Aws.REGION}:${Aws.ACCOUNT_ID}:log-group:*`,
          },
        },
      }),
    );
    this.consumerGroupId = consumerGroupIdOf(this, props);
    if (props.consumerGroupId === undefined && !props.legacyConsumerGroupId) {
      Annotations.of(this).addWarningV2(
        WARNINGS.consumerGroupIdDerived,
        `The Kafka consumer group id is derived for this deployment (${this.consumerGroupId}). A stack deployed ` +
          `before 0.2.0 consumed as "${LEGACY_CONSUMER_GROUP_ID}": set legacyConsumerGroupId: true to keep it, or ` +
          'the mapping is replaced and replays the topic from its oldest record. For a new deployment, set ' +
          'consumerGroupId or acknowledge this warning.',
      );
    }
    this.metricsNamespace = props.metricsNamespace ?? DEFAULTS.metricsNamespace;
    this.deployment = props.deployment ?? this.node.path;
    this.msk = props.kafka.kind === 'msk' ? parseMskClusterArn(props.kafka.clusterArn) : undefined;
    const provisioned =
      props.provisionedPollers === false
        ? undefined
        : (props.provisionedPollers ?? { minimumPollers: 1, maximumPollers: LOCAL_TOPIC_PARTITIONS });
    this.kafkaReportsBatchItemFailures = provisioned !== undefined && KAFKA_ESM.reportBatchItemFailures;

    this.table = createTable(this, props, this.removalPolicy);
    this.streamFailureQueue = new sqs.Queue(this, 'StreamFailures', {
      ...(props.encryptionKey
        ? { encryption: sqs.QueueEncryption.KMS, encryptionMasterKey: props.encryptionKey }
        : { encryption: sqs.QueueEncryption.SQS_MANAGED }),
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: this.removalPolicy,
    });

    const signing = createOutcomeSigning(this, props, this.removalPolicy);
    this.outcomePublicKeys = signing.publicKeys;
    this.outcomeSigningSecret = signing.secret;
    const common = { ...commonEnvironment(this, props), [ENV.signingSecretArn]: signing.secret.secretArn };
    const reserved = props.reservedConcurrency ?? {};
    this.functions = {
      collector: createFunction(
        this,
        'Collector',
        FUNCTIONS.collector,
        props,
        this.removalPolicy,
        { ...common, [ENV.reportBatchItemFailures]: String(this.kafkaReportsBatchItemFailures) },
        reserved.collector,
      ),
      timeouts: createFunction(
        this,
        'Timeouts',
        FUNCTIONS.timeouts,
        props,
        this.removalPolicy,
        { ...common, [ENV.reportBatchItemFailures]: String(STREAM_ESM.reportBatchItemFailures) },
        reserved.timeouts,
      ),
      sweeper: createFunction(
        this,
        'Sweeper',
        FUNCTIONS.sweeper,
        props,
        this.removalPolicy,
        common,
        reserved.sweeper ?? props.sweeperReservedConcurrency,
      ),
    };
    for (const fn of Object.values(this.functions)) {
      grantTable(this.table, fn);
      grantSigningSecret(fn, signing.secret, props);
      // No outcome is published before its signing key exists.
      fn.node.addDependency(signing.resource);
    }
    grantKafkaProduce(this, props, this.msk);

    this.kafkaMapping = createKafkaMapping(this, props, provisioned, this.msk);
    createStreamMapping(this);
    scheduleSweeper(this);
    createAlarms(this, props);
    if (this.alarms.length > 0 && !props.alarmTopic) {
      Annotations.of(this).addWarningV2(
        WARNINGS.alarmsNotifyNoOne,
        `No alarmTopic: the ${this.alarms.length} alarms change state and show on the dashboard, but nobody is ` +
          'told. Set alarmTopic (an SNS topic), add actions to the alarms yourself, or set alarms: false.',
      );
    }
    this.dashboard = props.dashboard === false ? undefined : createDashboard(this);
    if (props.outputs !== false) createOutputs(this, props.outputPrefix ?? '');
    acknowledgeNagFindings(this, props, this.msk);
    acknowledgeLintFindings(this, provisioned !== undefined);
    acknowledgeComplianceFindings(this, props);
  }

  // ---- grants: what producers and client applications need on MSK with IAM access control (grants.ts) ----

  /**
   * Allows the grantee (a producer's role) to write to the input topic: `kafka-cluster:Connect` and
   * `WriteDataIdempotently` on the cluster, `DescribeTopic` and `WriteData` on the topic.
   * MSK with IAM access control only; throws for other clusters, whose permissions are Kafka ACLs.
   */
  grantProduce(grantee: iam.IGrantable): iam.Grant {
    return grantProduce(this.grantTarget(), grantee);
  }

  /**
   * Allows the grantee to run the client (`eventbus-group-collector/client`): what `grantProduce`
   * allows, `DescribeTopic` and `ReadData` on the outcome topic (and `options.outcomeTopics`), and
   * `DescribeGroup`, `AlterGroup` and `DeleteGroup` on its consumer groups `<groupIdPrefix>-*`
   * (default prefix `group-collector-client`). MSK with IAM access control only; throws for other
   * clusters, whose permissions are Kafka ACLs.
   */
  grantClient(grantee: iam.IGrantable, options?: GrantClientOptions): iam.Grant {
    return grantClient(this.grantTarget(), grantee, options);
  }

  private grantTarget() {
    return { kafka: this.kafka, inputTopic: this.topics.input, outcomeTopic: this.topics.outcomes };
  }

  // ---- operations: the metrics the alarms and the dashboard read (operations.ts) ------------------

  /** Inputs the functions dead-lettered (the functions' own metric, Sum over 5 minutes). */
  metricDeadLetters(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName: METRIC_NAMES.deadLetters,
      dimensionsMap: {
        [METRICS.serviceDimension]: METRICS.service,
        [METRICS.deploymentDimension]: this.deployment,
      },
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
    });
  }

  /** How far the collector is behind its topic, in records (Lambda's OffsetLag, Maximum over 1 minute). */
  metricOffsetLag(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.functions.collector.metric('OffsetLag', {
      statistic: 'Maximum',
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** How late TTL deletions reach the timeouts function, in milliseconds (IteratorAge, Maximum over 1 minute). */
  metricIteratorAge(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.functions.timeouts.metric('IteratorAge', {
      statistic: 'Maximum',
      period: Duration.minutes(1),
      ...props,
    });
  }

  /** Records the Kafka mapping gave up on and sent to its on-failure destination (Sum over 5 minutes). */
  metricKafkaOnFailure(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'OnFailureDestinationDeliveredEventCount',
      dimensionsMap: { EventSourceMappingUUID: this.kafkaMapping.eventSourceMappingId },
      statistic: 'Sum',
      period: Duration.minutes(5),
      ...props,
    });
  }

  /** TTL deletions the stream mapping gave up on, waiting on its on-failure queue (Maximum over 5 minutes). */
  metricStreamFailures(props?: cloudwatch.MetricOptions): cloudwatch.Metric {
    return this.streamFailureQueue.metricApproximateNumberOfMessagesVisible({
      statistic: 'Maximum',
      period: Duration.minutes(5),
      ...props,
    });
  }

  /** @deprecated Use `metricDeadLetters()`. */
  deadLettersMetric(): cloudwatch.Metric {
    return this.metricDeadLetters();
  }

  /** @deprecated Use `metricOffsetLag()`. */
  offsetLagMetric(): cloudwatch.Metric {
    return this.metricOffsetLag();
  }

  /** @deprecated Use `metricIteratorAge()`. */
  iteratorAgeMetric(): cloudwatch.Metric {
    return this.metricIteratorAge();
  }

  /** @deprecated Use `metricKafkaOnFailure()`. */
  kafkaOnFailureMetric(): cloudwatch.Metric {
    return this.metricKafkaOnFailure();
  }
}
