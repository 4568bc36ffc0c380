/**
 * The group collector on AWS: one DynamoDB table, the collector fed by a Kafka
 * event source mapping (MSK or self-managed), the timeouts function fed by the
 * table's stream (TTL deletions only), the punctual-deadline sweeper, and the
 * alarms and dashboard that watch them. Every shared name and setting comes
 * from functions/shared/config.ts.
 */
import { join } from 'node:path';
import {
  Annotations,
  Aws,
  type CfnResource,
  Duration,
  RemovalPolicy,
  Stack,
  Token,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cwActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { DynamoEventSource, KafkaDlq, SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { LOCAL_TOPIC_PARTITIONS } from '#local/settings.ts';
import { FUNCTIONS, KAFKA_ESM, STREAM_ESM, SWEEPER } from '#shared/aws.ts';
import { DEFAULTS, ENV, LIMITS, TOPICS } from '#shared/config.ts';
import { METRIC_NAMES, METRICS } from '#shared/metrics.ts';
import { TABLE, TTL_STREAM_FILTERS } from '#store/layout.ts';
import { handlersDir } from './handlers.ts';
import {
  type CollectorNetwork,
  isValidConsumerGroupId,
  isValidTopic,
  isValidTopicPattern,
  type KafkaCluster,
  kafkaProblems,
  type MskClusterArn,
  mskResourceArn,
  parseMskClusterArn,
  producerTls,
} from './kafka-access.ts';

export type { CollectorNetwork, KafkaCluster, MskKafka, SelfManagedKafka } from './kafka-access.ts';

/**
 * The consumer group id of every stack before version 0.2.0. Keep it (`legacyConsumerGroupId: true`)
 * for a stack that already runs: the id is create-only, so a new one replaces the mapping, and the new
 * mapping starts from the new group's (absent) offsets: TRIM_HORIZON, a replay of the whole topic.
 */
export const LEGACY_CONSUMER_GROUP_ID = KAFKA_ESM.consumerGroupId;

/** The removal policies every resource of the construct supports (none supports SNAPSHOT). */
export const REMOVAL_POLICIES: readonly RemovalPolicy[] = [RemovalPolicy.RETAIN, RemovalPolicy.DESTROY];

/** The values CloudFormation accepts for a log group's RetentionInDays (logs.RetentionDays, less INFINITE). */
export const LOG_RETENTION_DAYS: readonly number[] = Object.values(logs.RetentionDays).filter(
  (v): v is number => typeof v === 'number' && v !== logs.RetentionDays.INFINITE,
);

/** Item-level DynamoDB actions the store uses (conditional writes, transactions, queries); no Scan. */
const TABLE_ITEM_ACTIONS = [
  'dynamodb:GetItem',
  'dynamodb:BatchGetItem',
  'dynamodb:Query',
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:ConditionCheckItem',
];

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

export interface CollectorTopics {
  /** Consumed by the collector. Default TOPICS.input. */
  readonly input?: string;
  /** Outcomes. Default TOPICS.outcomes (the input topic, the bus's convention). */
  readonly outcomes?: string;
  /** Dead letters. Default TOPICS.deadLetter. */
  readonly deadLetter?: string;
  /** Where the Kafka mapping sends records it gave up on. Default TOPICS.esmFailure. */
  readonly esmFailure?: string;
}

export interface GroupCollectorProps {
  readonly kafka: KafkaCluster;
  /** VPC placement of the functions (and of a self-managed cluster's mapping). Required for MSK. */
  readonly network?: CollectorNetwork;
  readonly topics?: CollectorTopics;
  /**
   * Topics (MSK IAM topic names or `prefix*` patterns) that groups may name in `replyTo`;
   * the functions are allowed to write to them. Default none.
   */
  readonly replyToTopics?: readonly string[];
  /**
   * Consumer group of the Kafka mapping. Default: derived from the account, Region, stack name and
   * this construct's path (`group-collector-…`), unique per deployment and stable across updates.
   * Create-only: changing it replaces the mapping, which starts from the new group's offsets.
   */
  readonly consumerGroupId?: string;
  /**
   * Keep the id every stack used before 0.2.0, `eventbus-group-collector` (LEGACY_CONSUMER_GROUP_ID),
   * for a stack that already runs with it: a new id would replace the mapping and replay the topic
   * from its oldest offset. Cannot be combined with consumerGroupId. Default false.
   */
  readonly legacyConsumerGroupId?: boolean;
  /** Default KAFKA_ESM.startingPosition. */
  readonly startingPosition?: lambda.StartingPosition;
  /**
   * Provisioned mode of the Kafka mapping. AWS requires it for the error controls (retries, record age,
   * bisect, partial batch responses) and for a Kafka-topic on-failure destination.
   * `false` switches to on-demand pollers and drops those controls (records are then retried until they expire).
   * Default: 1 to LOCAL_TOPIC_PARTITIONS pollers (more pollers than partitions sit idle).
   */
  readonly provisionedPollers?: lambda.ProvisionedPollerConfig | false;
  /**
   * Where the Kafka mapping sends a record it gave up on. Default: the Kafka topic `topics.esmFailure`
   * on the same cluster (keeps the record itself; SQS/SNS would get metadata only).
   */
  readonly kafkaOnFailure?: lambda.IEventSourceDlq;
  /** Physical table name. Default: generated by CloudFormation (a retained table never blocks a redeploy). */
  readonly tableName?: string;
  /**
   * Table, queue and log groups: RETAIN (default) or DESTROY. SNAPSHOT is refused at synth: none of
   * these resources supports it in CloudFormation (a DynamoDB table's backups are its point-in-time
   * recovery, kept with RETAIN). The table is deletion-protected unless DESTROY.
   */
  readonly removalPolicy?: RemovalPolicy;
  /** Default DEFAULTS.retentionSeconds. */
  readonly retentionSeconds?: number;
  /** Default DEFAULTS.earlyReportWaitSeconds. */
  readonly earlyReportWaitSeconds?: number;
  /** Default LIMITS.maxTtlSeconds. */
  readonly maxTtlSeconds?: number;
  /** Default one month. One of the values CloudFormation accepts (LOG_RETENTION_DAYS), else synth fails. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Reserve this many concurrent executions for the sweeper. Default none: one sweeper at a time is
   * kept by its lease item, and a reservation fails on accounts whose concurrency limit is low (AWS
   * keeps 100 unreserved).
   */
  readonly sweeperReservedConcurrency?: number;
  /** CloudWatch namespace of the functions' metrics (COLLECTOR_METRICS_NAMESPACE). Default DEFAULTS.metricsNamespace. */
  readonly metricsNamespace?: string;
  /**
   * Value of the metrics' `deployment` dimension (COLLECTOR_DEPLOYMENT), so that two stacks in one
   * account and namespace keep their metrics apart. Default: this construct's path (stack/construct).
   */
  readonly deployment?: string;
  /** Upload the handlers' source maps and turn on `--enable-source-maps` (readable stack traces, slower cold starts). Default false. */
  readonly sourceMaps?: boolean;
  /** Every alarm notifies this topic when set. */
  readonly alarmTopic?: sns.ITopic;
  /** OffsetLag (records) above which the collector is falling behind. Default 10,000. */
  readonly offsetLagThreshold?: number;
  /** Stream IteratorAge above which TTL timeouts are late. Default 10 minutes. */
  readonly iteratorAgeThreshold?: Duration;
}

export interface CollectorFunctions {
  readonly collector: lambda.Function;
  readonly timeouts: lambda.Function;
  readonly sweeper: lambda.Function;
}

export class GroupCollector extends Construct {
  readonly table: dynamodb.Table;
  readonly functions: CollectorFunctions;
  readonly kafkaMapping: lambda.EventSourceMapping;
  /** On-failure destination of the stream mapping. */
  readonly streamFailureQueue: sqs.Queue;
  readonly topics: Required<CollectorTopics>;
  readonly alarms: cloudwatch.Alarm[] = [];
  readonly dashboard: cloudwatch.Dashboard;
  /** Whether the Kafka mapping returns partial batch responses (and the collector reports item failures). */
  readonly kafkaReportsBatchItemFailures: boolean;
  /** The Kafka mapping's consumer group id. */
  readonly consumerGroupId: string;
  /** CloudWatch namespace and `deployment` dimension of the functions' metrics. */
  readonly metricsNamespace: string;
  readonly deployment: string;

  private readonly removalPolicy: RemovalPolicy;
  private readonly msk: MskClusterArn | undefined;

  constructor(scope: Construct, id: string, props: GroupCollectorProps) {
    super(scope, id);
    this.topics = {
      input: props.topics?.input ?? TOPICS.input,
      outcomes: props.topics?.outcomes ?? TOPICS.outcomes,
      deadLetter: props.topics?.deadLetter ?? TOPICS.deadLetter,
      esmFailure: props.topics?.esmFailure ?? TOPICS.esmFailure,
    };
    validate(this, props, this.topics);
    warnInsecureKafka(this, props.kafka);
    this.removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    this.consumerGroupId = consumerGroupIdOf(this, props);
    if (props.consumerGroupId === undefined && !props.legacyConsumerGroupId) {
      Annotations.of(this).addInfo(
        `Kafka consumer group id derived for this deployment (${this.consumerGroupId}). A stack deployed before 0.2.0 ` +
          `consumed as "${LEGACY_CONSUMER_GROUP_ID}": set legacyConsumerGroupId (context legacyConsumerGroupId=true) ` +
          'to keep it, or the mapping is replaced and replays the topic (docs/deploy.md, "Consumer group id").',
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

    this.table = this.createTable(props);
    this.streamFailureQueue = new sqs.Queue(this, 'StreamFailures', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
      removalPolicy: this.removalPolicy,
    });

    const common = this.commonEnvironment(props);
    this.functions = {
      collector: this.createFunction('Collector', FUNCTIONS.collector, props, {
        ...common,
        [ENV.reportBatchItemFailures]: String(this.kafkaReportsBatchItemFailures),
      }),
      timeouts: this.createFunction('Timeouts', FUNCTIONS.timeouts, props, {
        ...common,
        [ENV.reportBatchItemFailures]: String(STREAM_ESM.reportBatchItemFailures),
      }),
      sweeper: this.createFunction(
        'Sweeper',
        FUNCTIONS.sweeper,
        props,
        common,
        props.sweeperReservedConcurrency,
      ),
    };
    for (const fn of Object.values(this.functions)) this.grantTable(fn);
    this.grantKafkaProduce(props);

    this.kafkaMapping = this.createKafkaMapping(props, provisioned);
    this.createStreamMapping();
    this.scheduleSweeper();
    this.createAlarms(props);
    this.dashboard = this.createDashboard();
    this.acknowledgeNagFindings(props);
    this.acknowledgeLintFindings(provisioned !== undefined);
  }

  private createTable(props: GroupCollectorProps): dynamodb.Table {
    const table = new dynamodb.Table(this, 'Table', {
      tableName: props.tableName,
      partitionKey: { name: TABLE.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.sortKey, type: dynamodb.AttributeType.STRING },
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      timeToLiveAttribute: TABLE.ttlAttribute,
      stream: dynamodb.StreamViewType[TABLE.streamViewType],
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: this.removalPolicy,
      deletionProtection: this.removalPolicy !== RemovalPolicy.DESTROY,
    });
    table.addGlobalSecondaryIndex({
      indexName: TABLE.deadlineIndex.name,
      partitionKey: { name: TABLE.deadlineIndex.partitionKey, type: dynamodb.AttributeType.STRING },
      sortKey: { name: TABLE.deadlineIndex.sortKey, type: dynamodb.AttributeType.NUMBER },
      projectionType: dynamodb.ProjectionType.KEYS_ONLY,
    });
    return table;
  }

  private commonEnvironment(props: GroupCollectorProps): Record<string, string> {
    const { kafka } = props;
    const env: Record<string, string> = {
      [ENV.tableName]: this.table.tableName,
      [ENV.kafkaBrokers]: kafka.bootstrapServers.join(','),
      [ENV.kafkaAuth]: kafka.auth,
      [ENV.kafkaTls]: String(producerTls(kafka)),
      [ENV.outcomeTopic]: this.topics.outcomes,
      [ENV.deadLetterTopic]: this.topics.deadLetter,
      [ENV.retentionSeconds]: String(props.retentionSeconds ?? DEFAULTS.retentionSeconds),
      [ENV.earlyReportWaitSeconds]: String(props.earlyReportWaitSeconds ?? DEFAULTS.earlyReportWaitSeconds),
      [ENV.maxTtlSeconds]: String(props.maxTtlSeconds ?? LIMITS.maxTtlSeconds),
      [ENV.metricsNamespace]: this.metricsNamespace,
      [ENV.deployment]: this.deployment,
      // Stack traces through the source maps, only when they are uploaded: loading them slows cold starts.
      ...(props.sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
    };
    if (kafka.secret) env[ENV.kafkaSecretArn] = kafka.secret.secretArn;
    if (kafka.kind === 'self-managed' && kafka.rootCaSecret) {
      env[ENV.kafkaRootCaSecretArn] = kafka.rootCaSecret.secretArn;
    }
    return env;
  }

  private createFunction(
    id: string,
    settings: { name: string; memoryMb: number; timeoutSeconds: number },
    props: GroupCollectorProps,
    environment: Record<string, string>,
    reservedConcurrentExecutions?: number,
  ): lambda.Function {
    const logGroup = new logs.LogGroup(this, `${id}Logs`, {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
      removalPolicy: this.removalPolicy,
    });
    // Our own role: no AWS managed policies, logs only to this function's group. Network permissions
    // are inline so that they exist before Lambda creates the VPC function.
    const role = new iam.Role(this, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `group collector: ${settings.name} function`,
      inlinePolicies: {
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
              resources: [logGroup.logGroupArn],
            }),
          ],
        }),
        ...(props.network
          ? {
              network: new iam.PolicyDocument({
                statements: [new iam.PolicyStatement({ actions: VPC_ACTIONS, resources: ['*'] })],
              }),
            }
          : {}),
      },
    });
    const { network } = props;
    // Pre-bundled by `npm run build` (scripts/build.ts): no bundler, Docker or lock file at synth time.
    // The AWS SDK v3 comes from the Node.js 22 runtime.
    const code = lambda.Code.fromAsset(join(handlersDir(), settings.name), {
      exclude: props.sourceMaps ? [] : ['*.map'],
    });
    return new lambda.Function(this, id, {
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

  private grantTable(fn: lambda.IFunction): void {
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: TABLE_ITEM_ACTIONS,
        resources: [this.table.tableArn],
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ['dynamodb:Query'],
        resources: [`${this.table.tableArn}/index/${TABLE.deadlineIndex.name}`],
      }),
    );
  }

  /** Every function publishes outcomes and dead letters with the same credentials as the mapping. */
  private grantKafkaProduce(props: GroupCollectorProps): void {
    const { kafka } = props;
    for (const fn of Object.values(this.functions)) {
      kafka.secret?.grantRead(fn);
      if (kafka.kind === 'self-managed') kafka.rootCaSecret?.grantRead(fn);
      if (kafka.secretKey) {
        // Only through Secrets Manager: the key decrypts the Kafka secrets and nothing else for this role.
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kms:Decrypt'],
            resources: [kafka.secretKey.keyArn],
            conditions: {
              StringEquals: { 'kms:ViaService': `secretsmanager.${Stack.of(this).region}.amazonaws.com` },
            },
          }),
        );
      }
      if (kafka.kind === 'msk' && kafka.auth === 'iam' && this.msk) {
        const cluster = kafka.clusterArn;
        const produced = [this.topics.outcomes, this.topics.deadLetter, ...(props.replyToTopics ?? [])];
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
            resources: [cluster],
          }),
        );
        fn.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
            resources: unique(produced).map((t) => mskResourceArn(this.msk as MskClusterArn, 'topic', t)),
          }),
        );
      }
    }
  }

  private createKafkaMapping(
    props: GroupCollectorProps,
    provisioned: lambda.ProvisionedPollerConfig | undefined,
  ): lambda.EventSourceMapping {
    const { kafka, network } = props;
    const { collector } = this.functions;
    const { consumerGroupId } = this;
    const access: lambda.SourceAccessConfiguration[] = [];
    if (kafka.kind === 'msk') {
      if (kafka.auth === 'scram-sha-512' && kafka.secret) {
        access.push({
          type: lambda.SourceAccessConfigurationType.SASL_SCRAM_512_AUTH,
          uri: kafka.secret.secretArn,
        });
      }
      // What the mapping needs to find the cluster and its network (AWSLambdaMSKExecutionRole, scoped).
      collector.addToRolePolicy(
        new iam.PolicyStatement({
          actions: [
            'kafka:DescribeCluster',
            'kafka:DescribeClusterV2',
            'kafka:GetBootstrapBrokers',
            ...(kafka.auth === 'scram-sha-512' ? ['kafka:ListScramSecrets'] : []),
          ],
          resources: [kafka.clusterArn],
        }),
      );
      if (kafka.auth === 'iam' && this.msk) {
        const msk = this.msk;
        collector.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
            resources: [kafka.clusterArn],
          }),
        );
        collector.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
            resources: [mskResourceArn(msk, 'topic', this.topics.input)],
          }),
        );
        collector.addToRolePolicy(
          new iam.PolicyStatement({
            actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
            resources: [mskResourceArn(msk, 'group', consumerGroupId)],
          }),
        );
        if (provisioned && !props.kafkaOnFailure) {
          collector.addToRolePolicy(
            new iam.PolicyStatement({
              actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
              resources: [mskResourceArn(msk, 'topic', this.topics.esmFailure)],
            }),
          );
        }
      }
    } else {
      if (kafka.secret) {
        const type =
          kafka.auth === 'mtls'
            ? lambda.SourceAccessConfigurationType.CLIENT_CERTIFICATE_TLS_AUTH
            : lambda.SourceAccessConfigurationType.SASL_SCRAM_512_AUTH;
        access.push({ type, uri: kafka.secret.secretArn });
      }
      if (kafka.rootCaSecret) {
        access.push({
          type: lambda.SourceAccessConfigurationType.SERVER_ROOT_CA_CERTIFICATE,
          uri: kafka.rootCaSecret.secretArn,
        });
      }
      if (network) {
        const [securityGroup] = network.securityGroups;
        if (securityGroup) {
          access.push({
            type: lambda.SourceAccessConfigurationType.VPC_SECURITY_GROUP,
            uri: securityGroup.securityGroupId,
          });
        }
        for (const subnetId of network.vpc.selectSubnets(network.subnets).subnetIds) {
          access.push({ type: lambda.SourceAccessConfigurationType.VPC_SUBNET, uri: subnetId });
        }
      }
    }
    // The error controls need provisioned mode (AWS); without it Lambda retries a failing batch until
    // its records expire, which still honours guarantee 8 (transient faults are retried).
    const errorControls = provisioned
      ? {
          provisionedPollerConfig: provisioned,
          retryAttempts: KAFKA_ESM.maximumRetryAttempts,
          maxRecordAge: Duration.seconds(KAFKA_ESM.maximumRecordAgeSeconds),
          bisectBatchOnError: KAFKA_ESM.bisectBatchOnFunctionError,
          reportBatchItemFailures: KAFKA_ESM.reportBatchItemFailures,
          onFailure: props.kafkaOnFailure ?? new KafkaDlq(this.topics.esmFailure),
        }
      : {};
    return new lambda.EventSourceMapping(this, 'KafkaSource', {
      target: collector,
      ...(kafka.kind === 'msk'
        ? { eventSourceArn: kafka.clusterArn }
        : { kafkaBootstrapServers: [...kafka.bootstrapServers] }),
      kafkaTopic: this.topics.input,
      kafkaConsumerGroupId: consumerGroupId,
      startingPosition:
        props.startingPosition ?? lambda.StartingPosition[KAFKA_ESM.startingPosition as 'TRIM_HORIZON'],
      batchSize: KAFKA_ESM.batchSize,
      maxBatchingWindow: Duration.seconds(KAFKA_ESM.maximumBatchingWindowSeconds),
      sourceAccessConfigurations: access.length > 0 ? access : undefined,
      supportS3OnFailureDestination: true,
      metricsConfig: {
        metrics: [
          lambda.MetricType.EVENT_COUNT,
          lambda.MetricType.ERROR_COUNT,
          lambda.MetricType.KAFKA_METRICS,
        ],
      },
      ...errorControls,
    });
  }

  private createStreamMapping(): void {
    this.functions.timeouts.addEventSource(
      new DynamoEventSource(this.table, {
        startingPosition: lambda.StartingPosition[STREAM_ESM.startingPosition as 'TRIM_HORIZON'],
        batchSize: STREAM_ESM.batchSize,
        maxBatchingWindow: Duration.seconds(STREAM_ESM.maximumBatchingWindowSeconds),
        retryAttempts: STREAM_ESM.maximumRetryAttempts,
        maxRecordAge: Duration.seconds(STREAM_ESM.maximumRecordAgeSeconds),
        bisectBatchOnError: STREAM_ESM.bisectBatchOnFunctionError,
        reportBatchItemFailures: STREAM_ESM.reportBatchItemFailures,
        parallelizationFactor: STREAM_ESM.parallelizationFactor,
        filters: TTL_STREAM_FILTERS.map((pattern) => lambda.FilterCriteria.filter(pattern)),
        onFailure: new SqsDlq(this.streamFailureQueue),
      }),
    );
  }

  private scheduleSweeper(): void {
    const { sweeper } = this.functions;
    // One run a minute; an overlapping or throttled run is dropped, not queued: the next one takes over.
    sweeper.configureAsyncInvoke({ retryAttempts: 0, maxEventAge: Duration.seconds(60) });
    new events.Rule(this, 'SweeperSchedule', {
      description: `group collector: sweep due deadlines every ${SWEEPER.scheduleMinutes} minute(s)`,
      schedule: events.Schedule.rate(Duration.minutes(SWEEPER.scheduleMinutes)),
      targets: [new targets.LambdaFunction(sweeper, { retryAttempts: 0, maxEventAge: Duration.seconds(60) })],
    });
  }

  // ---- operations -------------------------------------------------------------------------------

  deadLettersMetric(): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName: METRIC_NAMES.deadLetters,
      dimensionsMap: {
        [METRICS.serviceDimension]: METRICS.service,
        [METRICS.deploymentDimension]: this.deployment,
      },
      statistic: 'Sum',
      period: Duration.minutes(5),
    });
  }

  offsetLagMetric(): cloudwatch.Metric {
    return this.functions.collector.metric('OffsetLag', {
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
  }

  iteratorAgeMetric(): cloudwatch.Metric {
    return this.functions.timeouts.metric('IteratorAge', {
      statistic: 'Maximum',
      period: Duration.minutes(1),
    });
  }

  /** Records the Kafka mapping gave up on and sent to its on-failure destination (mapping EventCount metrics). */
  kafkaOnFailureMetric(): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: 'AWS/Lambda',
      metricName: 'OnFailureDestinationDeliveredEventCount',
      dimensionsMap: { EventSourceMappingUUID: this.kafkaMapping.eventSourceMappingId },
      statistic: 'Sum',
      period: Duration.minutes(5),
    });
  }

  private createAlarms(props: GroupCollectorProps): void {
    const add = (id: string, alarm: cloudwatch.AlarmProps): void => {
      const created = new cloudwatch.Alarm(this, id, {
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
        ...alarm,
      });
      if (props.alarmTopic) created.addAlarmAction(new cwActions.SnsAction(props.alarmTopic));
      this.alarms.push(created);
    };
    const fiveMinutes = Duration.minutes(5);
    for (const [name, fn] of Object.entries(this.functions)) {
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
      metric: this.offsetLagMetric(),
      threshold: props.offsetLagThreshold ?? 10_000,
      evaluationPeriods: 10,
      datapointsToAlarm: 8,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    add('StreamIteratorAge', {
      alarmDescription: 'TTL deletions reach the timeouts function late (IteratorAge)',
      metric: this.iteratorAgeMetric(),
      threshold: (props.iteratorAgeThreshold ?? Duration.minutes(10)).toMilliseconds(),
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    });
    add('DeadLetters', {
      alarmDescription: `inputs were dead-lettered to ${this.topics.deadLetter} (see DeadLettersByReason)`,
      metric: this.deadLettersMetric(),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    add('StreamFailuresDepth', {
      alarmDescription:
        'the stream mapping gave up on TTL deletions: timeouts may be missing (on-failure queue)',
      metric: this.streamFailureQueue.metricApproximateNumberOfMessagesVisible({
        period: fiveMinutes,
        statistic: 'Maximum',
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    add('KafkaOnFailureDeliveries', {
      alarmDescription: `the Kafka mapping gave up on records and sent them to its on-failure destination`,
      metric: this.kafkaOnFailureMetric(),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }

  private createDashboard(): cloudwatch.Dashboard {
    const fns = Object.entries(this.functions);
    const perFunction = (title: string, metric: (fn: lambda.IFunction) => cloudwatch.IMetric) =>
      new cloudwatch.GraphWidget({
        title,
        width: 8,
        left: fns.map(([name, fn]) => {
          const m = metric(fn);
          return m instanceof cloudwatch.Metric ? m.with({ label: name }) : m;
        }),
      });
    const dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
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
        left: [this.offsetLagMetric()],
      }),
      new cloudwatch.GraphWidget({
        title: 'Stream IteratorAge (ms)',
        width: 8,
        left: [this.iteratorAgeMetric()],
      }),
    );
    dashboard.addWidgets(
      new cloudwatch.GraphWidget({ title: 'Dead letters', width: 8, left: [this.deadLettersMetric()] }),
      new cloudwatch.GraphWidget({
        title: 'Given up by the mappings',
        width: 8,
        left: [
          this.kafkaOnFailureMetric().with({ label: 'Kafka → on-failure destination' }),
          this.streamFailureQueue
            .metricApproximateNumberOfMessagesVisible({ statistic: 'Maximum' })
            .with({ label: 'stream → on-failure queue' }),
        ],
      }),
      new cloudwatch.AlarmStatusWidget({ title: 'Alarms', width: 8, alarms: this.alarms }),
    );
    return dashboard;
  }

  /**
   * cfn-lint serverless-rules findings that are deliberate, each with its reason (docs/deploy.md,
   * "Synth and lint warnings"): written as the resources' `cfn-lint` metadata, which cfn-lint reads.
   */
  private acknowledgeLintFindings(provisionedMode: boolean): void {
    const ignore = (resource: CfnResource, ...checks: string[]) =>
      resource.addMetadata('cfn-lint', { config: { ignore_checks: checks } });
    // ES1001 (a mapping without an on-failure destination) with provisionedPollers: false only: AWS
    // accepts a Kafka on-failure destination in provisioned mode only; the operator chose that trade-off.
    if (!provisionedMode) ignore(this.kafkaMapping.node.defaultChild as CfnResource, 'ES1001');
    // ES6000 (a queue without a redrive policy): this queue is itself the stream mapping's dead-letter
    // destination, read by operators and watched by StreamFailuresDepth; nothing redrives from it.
    ignore(this.streamFailureQueue.node.defaultChild as CfnResource, 'ES6000');
    // ES4000 / ES1007 (no dead-letter queue or on-failure destination for the scheduled sweeper): a
    // missed run has nothing to replay; the next minute's run sweeps every due deadline (they stay in
    // the index until decided), and SweeperErrors / SweeperThrottles alarm on failures.
    for (const child of this.node.findAll()) {
      if (child instanceof events.CfnRule) ignore(child, 'ES4000');
      if (
        child instanceof lambda.CfnPermission &&
        String(child.principal).startsWith('events.amazonaws.com')
      ) {
        ignore(child, 'ES1007');
      }
    }
  }

  /** cdk-nag findings that are deliberate, each with its reason. */
  private acknowledgeNagFindings(props: GroupCollectorProps): void {
    for (const fn of Object.values(this.functions)) {
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'Node.js 22 is the runtime the handlers, their dependencies and the local runtime are tested on; moving to a newer runtime is a tested change of its own.',
      });
      if (props.network) {
        Validations.of(fn.role as iam.Role).acknowledge({
          id: 'AwsSolutions-IAM5[Resource::*]',
          reason:
            'Lambda VPC networking: the EC2 network-interface and Describe* actions Lambda (and the MSK mapping) use do not support resource-level permissions.',
        });
      }
    }
    Validations.of(this.functions.timeouts.role as iam.Role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'dynamodb:ListStreams, required by the stream event source mapping, does not support resource-level permissions; the stream itself is named in the other actions.',
    });
    Validations.of(this.streamFailureQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself the dead-letter destination of the stream event source mapping; it is watched by the StreamFailuresDepth alarm.',
    });
    for (const pattern of props.replyToTopics ?? []) {
      if (pattern.endsWith('*') && this.msk) {
        for (const fn of Object.values(this.functions)) {
          Validations.of(fn.role as iam.Role).acknowledge({
            id: `AwsSolutions-IAM5[Resource::${mskResourceArn(this.msk, 'topic', pattern)}]`,
            reason: 'replyTo topics configured as a prefix pattern: groups may name any topic under it.',
          });
        }
      }
    }
  }
}

function unique(values: readonly string[]): string[] {
  return [...new Set(values)];
}

/** Allowed for a private test cluster, but never silently: `cdk synth` prints these warnings. */
function warnInsecureKafka(scope: Construct, kafka: KafkaCluster): void {
  if (kafka.kind !== 'self-managed') return;
  if (kafka.auth === 'none') {
    Annotations.of(scope).addWarningV2(
      'group-collector:kafka-unauthenticated',
      'kafka.auth is "none": the mapping and the producers connect without authentication; use scram-sha-512 or mtls in production',
    );
  }
  if (!producerTls(kafka)) {
    Annotations.of(scope).addWarningV2(
      'group-collector:kafka-plaintext',
      'kafka.tls is off: outcomes and dead letters travel to the brokers unencrypted',
    );
  }
}

/**
 * The Kafka mapping's consumer group id: the one given, the legacy one when asked, else
 * `group-collector-<account>-<region>-<stack>-<8 hex of the construct's address>`: unique per
 * deployment (two stacks on one cluster never share partitions) and stable across updates.
 * Account and Region are CloudFormation references in an environment-agnostic stack.
 */
function consumerGroupIdOf(scope: Construct, props: GroupCollectorProps): string {
  if (props.consumerGroupId !== undefined) return props.consumerGroupId;
  if (props.legacyConsumerGroupId) return LEGACY_CONSUMER_GROUP_ID;
  const stack = Stack.of(scope);
  const account = Token.isUnresolved(stack.account) ? Aws.ACCOUNT_ID : stack.account;
  const region = Token.isUnresolved(stack.region) ? Aws.REGION : stack.region;
  return `group-collector-${account}-${region}-${stack.stackName}-${scope.node.addr.slice(0, 8)}`;
}

/** Every problem with the props at once, each saying what to change. */
function validate(scope: Construct, props: GroupCollectorProps, topics: Required<CollectorTopics>): void {
  const problems = kafkaProblems(props.kafka, props.network);
  const msk = props.kafka.kind === 'msk' ? parseMskClusterArn(props.kafka.clusterArn) : undefined;
  const stack = Stack.of(scope);
  if (msk && !Token.isUnresolved(stack.region) && msk.region !== stack.region) {
    problems.push(
      `the MSK cluster is in ${msk.region} but the stack deploys to ${stack.region}: a mapping reads its own Region`,
    );
  }
  if (msk && !Token.isUnresolved(stack.account) && msk.account !== stack.account) {
    problems.push(
      `the MSK cluster belongs to account ${msk.account} but the stack deploys to ${stack.account}`,
    );
  }
  for (const [role, name] of Object.entries(topics)) {
    if (!Token.isUnresolved(name) && !isValidTopic(name)) {
      problems.push(`topics.${role} "${name}" is not a valid Kafka topic name ([A-Za-z0-9._-], at most 249)`);
    }
  }
  if (topics.esmFailure === topics.input) {
    problems.push(
      'topics.esmFailure must differ from topics.input (AWS refuses a destination that is the source)',
    );
  }
  for (const pattern of props.replyToTopics ?? []) {
    if (!isValidTopicPattern(pattern))
      problems.push(`replyToTopics: "${pattern}" is not a topic name or prefix*`);
  }
  const group = props.consumerGroupId;
  if (group !== undefined && !Token.isUnresolved(group) && !isValidConsumerGroupId(group)) {
    problems.push(`consumerGroupId "${group}" must be 1-200 characters of [a-zA-Z0-9-/*:_+=.@]`);
  }
  if (group !== undefined && props.legacyConsumerGroupId) {
    problems.push('give consumerGroupId or legacyConsumerGroupId, not both');
  }
  if (props.removalPolicy !== undefined && !REMOVAL_POLICIES.includes(props.removalPolicy)) {
    problems.push(
      `removalPolicy ${props.removalPolicy} is not supported: use RETAIN or DESTROY. CloudFormation takes a snapshot only of volumes, caches and databases; the table, the queue and the log groups would fail the deploy (the table's backups are its point-in-time recovery, kept with RETAIN)`,
    );
  }
  if (props.logRetention !== undefined && !LOG_RETENTION_DAYS.includes(props.logRetention)) {
    problems.push(
      `logRetention ${props.logRetention} days is not a value CloudFormation accepts: use one of ${LOG_RETENTION_DAYS.join(', ')}`,
    );
  }
  const reserved = props.sweeperReservedConcurrency;
  if (reserved !== undefined && (!Number.isInteger(reserved) || reserved < 1)) {
    problems.push(`sweeperReservedConcurrency must be a positive whole number; got ${reserved}`);
  }
  for (const [name, value] of [
    ['metricsNamespace', props.metricsNamespace],
    ['deployment', props.deployment],
  ] as const) {
    if (value !== undefined && !Token.isUnresolved(value) && (value.length === 0 || value.length > 255)) {
      problems.push(`${name} must be 1-255 characters; got "${value}"`);
    }
  }
  const pollers = props.provisionedPollers;
  if (pollers) {
    const min = pollers.minimumPollers ?? 1;
    const max = pollers.maximumPollers ?? 200;
    if (min < 1 || min > 200) problems.push(`provisionedPollers.minimumPollers ${min} must be 1-200`);
    if (max < 1 || max > 2000) problems.push(`provisionedPollers.maximumPollers ${max} must be 1-2000`);
    if (min > max) problems.push(`provisionedPollers.minimumPollers ${min} exceeds maximumPollers ${max}`);
  }
  if (pollers === false && props.kafkaOnFailure) {
    problems.push(
      'kafkaOnFailure needs provisioned mode (AWS requires it for the Kafka error controls): drop provisionedPollers: false',
    );
  }
  for (const [name, value] of [
    ['retentionSeconds', props.retentionSeconds],
    ['earlyReportWaitSeconds', props.earlyReportWaitSeconds],
    ['maxTtlSeconds', props.maxTtlSeconds],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value <= 0)) {
      problems.push(`${name} must be a positive whole number of seconds; got ${value}`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`GroupCollector: invalid props:\n - ${problems.join('\n - ')}`);
  }
}
