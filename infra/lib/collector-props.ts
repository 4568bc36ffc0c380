/**
 * The GroupCollector's props and the types they use (topics, functions, alarms), with the constants
 * they are checked against: the consumer group id of stacks before 0.2.0, the removal policies and
 * the log retentions CloudFormation accepts.
 */
import { type Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sns from 'aws-cdk-lib/aws-sns';
import { KAFKA_ESM } from '#shared/aws.ts';
import type { CollectorNetwork, KafkaCluster } from './kafka-access.ts';

/**
 * The consumer group id of every stack before version 0.2.0, `"eventbus-group-collector"`. Keep it
 * (`legacyConsumerGroupId: true`) for a stack that already runs: the id is create-only, so a new one
 * replaces the mapping, and the new mapping starts from the new group's (absent) offsets:
 * TRIM_HORIZON, a replay of the whole topic.
 */
export const LEGACY_CONSUMER_GROUP_ID = KAFKA_ESM.consumerGroupId;

/** The removal policies every resource of the construct supports (none supports SNAPSHOT). */
export const REMOVAL_POLICIES: readonly RemovalPolicy[] = [RemovalPolicy.RETAIN, RemovalPolicy.DESTROY];

/** The values CloudFormation accepts for a log group's RetentionInDays (logs.RetentionDays, less INFINITE). */
export const LOG_RETENTION_DAYS: readonly number[] = Object.values(logs.RetentionDays).filter(
  (v): v is number => typeof v === 'number' && v !== logs.RetentionDays.INFINITE,
);

export interface CollectorTopics {
  /** Consumed by the collector. Default `"eventbus-collector"`. */
  readonly input?: string;
  /** Outcomes. Default `"eventbus-collector"` (the input topic, the bus's convention). */
  readonly outcomes?: string;
  /** Dead letters. Default `"eventbus-collector.dlq"`. */
  readonly deadLetter?: string;
  /** Where the Kafka mapping sends records it gave up on. Default `"eventbus-collector.esm-failures"`. */
  readonly esmFailure?: string;
}

/** When an alarm goes off: its threshold and how many periods (and of them, how many breaching) it takes. */
export interface AlarmSettings<T = number> {
  /** The value the metric is compared with. */
  readonly threshold?: T;
  /** Periods compared. */
  readonly evaluationPeriods?: number;
  /** Of those, how many must breach. Default: all of them. */
  readonly datapointsToAlarm?: number;
}

/**
 * The alarms, each on by default with the settings stated; `false` leaves one out, an object
 * overrides its settings. Periods are 5 minutes, except OffsetLag and IteratorAge (1 minute).
 */
export interface CollectorAlarms {
  /** Collector invocations failed. Default threshold 1 (errors), 1 period of 5 minutes. */
  readonly collectorErrors?: AlarmSettings | false;
  /** Collector throttled. Default threshold 1, 2 of 3 periods of 5 minutes. */
  readonly collectorThrottles?: AlarmSettings | false;
  /** Timeouts function invocations failed. Default threshold 1, 1 period of 5 minutes. */
  readonly timeoutsErrors?: AlarmSettings | false;
  /** Timeouts function throttled. Default threshold 1, 2 of 3 periods of 5 minutes. */
  readonly timeoutsThrottles?: AlarmSettings | false;
  /** Sweeper invocations failed. Default threshold 1, 1 period of 5 minutes. */
  readonly sweeperErrors?: AlarmSettings | false;
  /** Sweeper throttled. Default threshold 1, 2 of 3 periods of 5 minutes. */
  readonly sweeperThrottles?: AlarmSettings | false;
  /** The collector falls behind its topic (OffsetLag, records). Default threshold 10,000 records, 8 of 10 minutes. */
  readonly offsetLag?: AlarmSettings | false;
  /** TTL deletions reach the timeouts function late (stream IteratorAge). Default threshold 10 minutes, 3 of 5 minutes. */
  readonly iteratorAge?: AlarmSettings<Duration> | false;
  /** Inputs were dead-lettered. Default threshold 1 (dead letter), 1 period of 5 minutes. */
  readonly deadLetters?: AlarmSettings | false;
  /** The stream mapping gave up on TTL deletions (messages on the on-failure queue). Default threshold 1, 1 period of 5 minutes. */
  readonly streamFailures?: AlarmSettings | false;
  /** The Kafka mapping gave up on records. Default threshold 1, 1 period of 5 minutes. */
  readonly kafkaOnFailure?: AlarmSettings | false;
}

/** Reserved concurrent executions per function. */
export interface CollectorReservedConcurrency {
  /**
   * The collector. Default none. With provisioned pollers the mapping invokes it at most once per
   * poller, so at least `provisionedPollers.maximumPollers` (default 6) keeps every poller busy.
   */
  readonly collector?: number;
  /** The timeouts function. Default none. The stream mapping invokes it at most once per shard (parallelization factor 1). */
  readonly timeouts?: number;
  /** The sweeper. Default none: one sweeper at a time is kept by its lease item. */
  readonly sweeper?: number;
}

export interface GroupCollectorProps {
  readonly kafka: KafkaCluster;
  /** VPC placement of the functions (and of a self-managed cluster's mapping). Required for MSK. */
  readonly network?: CollectorNetwork;
  /** Topic names. Default: the topics named in CollectorTopics. */
  readonly topics?: CollectorTopics;
  /**
   * Topics (MSK IAM topic names or `prefix*` patterns) that groups may name in `replyTo`;
   * the functions are allowed to write to them. Default none.
   */
  readonly replyToTopics?: readonly string[];
  /**
   * Consumer group of the Kafka mapping. Default: derived from the account, Region, stack name and
   * this construct's path (`group-collector-<account>-<region>-<stack>-<8 hex>`), unique per
   * deployment and stable across updates. Create-only: changing it replaces the mapping, which
   * starts from the new group's offsets.
   */
  readonly consumerGroupId?: string;
  /**
   * Keep the id every stack used before 0.2.0, `"eventbus-group-collector"`, for a stack that already
   * runs with it: a new id would replace the mapping and replay the topic from its oldest offset.
   * Cannot be combined with consumerGroupId. Default false.
   */
  readonly legacyConsumerGroupId?: boolean;
  /** Where a new consumer group starts reading. Default `StartingPosition.TRIM_HORIZON` (the oldest record). */
  readonly startingPosition?: lambda.StartingPosition;
  /**
   * Provisioned mode of the Kafka mapping. AWS requires it for the error controls (retries, record age,
   * bisect, partial batch responses) and for a Kafka-topic on-failure destination.
   * `false` switches to on-demand pollers and drops those controls (records are then retried until they expire).
   * Default `{ minimumPollers: 1, maximumPollers: 6 }` (more pollers than partitions sit idle).
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
  /**
   * A customer managed KMS key for the table, the stream mapping's on-failure queue and the
   * functions' log groups. Default none: the table uses the AWS managed key (aws/dynamodb), the
   * queue SQS-managed encryption, the log groups CloudWatch Logs' own encryption. The key policy
   * must let CloudWatch Logs use it (principal `logs.<region>.amazonaws.com`); the construct grants
   * the functions what they need.
   */
  readonly encryptionKey?: kms.IKey;
  /**
   * How long a decided group is remembered, so that late reports and redelivered Creates are
   * recognised. Whole seconds, at least one hour (the Kafka mapping’s maximum record age). Default 7 days.
   */
  readonly retention?: Duration;
  /** How long a report whose group is unknown waits before it is dead-lettered. Whole seconds. Default 10 minutes. */
  readonly earlyReportWait?: Duration;
  /** The largest `ttl` a group may ask for. Whole seconds. Default 7 days. */
  readonly maxTtl?: Duration;
  /** @deprecated Use `retention` (a Duration). Seconds; default 604,800 (7 days). */
  readonly retentionSeconds?: number;
  /** @deprecated Use `earlyReportWait` (a Duration). Seconds; default 600 (10 minutes). */
  readonly earlyReportWaitSeconds?: number;
  /** @deprecated Use `maxTtl` (a Duration). Seconds; default 604,800 (7 days). */
  readonly maxTtlSeconds?: number;
  /** Default `RetentionDays.ONE_MONTH`. One of the values CloudFormation accepts (not INFINITE), else synth fails. */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Reserved concurrent executions per function. Default none for each: a reservation fails on
   * accounts whose concurrency limit is low (AWS keeps 100 unreserved).
   */
  readonly reservedConcurrency?: CollectorReservedConcurrency;
  /** @deprecated Use `reservedConcurrency.sweeper`. */
  readonly sweeperReservedConcurrency?: number;
  /** CloudWatch namespace of the functions' metrics. Default `"GroupCollector"`. */
  readonly metricsNamespace?: string;
  /**
   * Value of the metrics' `deployment` dimension, so that two stacks in one account and namespace
   * keep their metrics apart. Default: this construct's path (`<stack>/<construct id>`).
   */
  readonly deployment?: string;
  /** Upload the handlers' source maps and turn on `--enable-source-maps` (readable stack traces, slower cold starts). Default false. */
  readonly sourceMaps?: boolean;
  /**
   * Every alarm notifies this topic (alarm and OK). Default none: the alarms change state and show
   * on the dashboard but tell nobody, and synth warns `group-collector:alarms-notify-no-one`.
   */
  readonly alarmTopic?: sns.ITopic;
  /** The alarms: `false` creates none; each can be left out or re-thresholded. Default: all 11, with the settings in CollectorAlarms. */
  readonly alarms?: CollectorAlarms | false;
  /** A CloudWatch dashboard of the functions, mappings and alarms (about 3 USD a month). Default true. */
  readonly dashboard?: boolean;
  /**
   * Stack outputs (table name, topics, functions, consumer group, on-failure queue, dashboard), named
   * `<outputPrefix>TableName` and so on: `group-collector inspect --stack <stack>` reads `TableName`.
   * `false` creates none. Default true.
   */
  readonly outputs?: boolean;
  /** Prefix of the outputs' names, for a second collector in one stack. Default `""`. */
  readonly outputPrefix?: string;
  /**
   * Generation of the outcome signing key (docs/SECURITY.md, "Signed outcomes"). The construct creates
   * an Ed25519 key at the first deployment, in a Secrets Manager secret only its functions may read;
   * changing this number rotates it: the deployment adds a new key valid from an hour later and keeps
   * the newest previous one, and the output `OutcomePublicKeys` lists both. Give clients the new
   * public key within that hour; rotate again no sooner than the retention plus two days later (an
   * outcome decided before a rotation may be republished until then, with the signature stored
   * with its decision: clients must still trust the previous key's public key).
   * @default 1
   */
  readonly outcomeKeyGeneration?: number;
  /** @deprecated Use `alarms: { offsetLag: { threshold } }`. Records; default 10,000. */
  readonly offsetLagThreshold?: number;
  /** @deprecated Use `alarms: { iteratorAge: { threshold } }`. Default 10 minutes. */
  readonly iteratorAgeThreshold?: Duration;
}

export interface CollectorFunctions {
  readonly collector: lambda.Function;
  readonly timeouts: lambda.Function;
  readonly sweeper: lambda.Function;
}
