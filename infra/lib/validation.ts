/**
 * The synth-time checks of the GroupCollector's props (every problem at once, each saying what to
 * change), the warnings for an insecure Kafka connection, and the consumer group id the Kafka
 * mapping uses.
 */
import { Annotations, Aws, type Duration, Stack, Token } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { KAFKA_ESM } from '#shared/aws.ts';
import {
  type CollectorTopics,
  type GroupCollectorProps,
  LEGACY_CONSUMER_GROUP_ID,
  LOG_RETENTION_DAYS,
  REMOVAL_POLICIES,
} from './collector-props.ts';

import {
  isValidConsumerGroupId,
  isValidTopic,
  isValidTopicPattern,
  type KafkaCluster,
  kafkaProblems,
  parseMskClusterArn,
  producerTls,
} from './kafka-access.ts';

/**
 * What the GroupCollector throws when its props cannot make a working deployment: every problem
 * at once, each a sentence saying which prop to change.
 */
export class GroupCollectorValidationError extends Error {
  override readonly name = 'GroupCollectorValidationError';
  /** Each problem found, one sentence each. */
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super(`GroupCollector: invalid props:\n - ${problems.join('\n - ')}`);
    this.problems = [...problems];
  }
}

/** Allowed for a private test cluster, but never silently: `cdk synth` prints these warnings. */
export function warnInsecureKafka(scope: Construct, kafka: KafkaCluster): void {
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
export function consumerGroupIdOf(scope: Construct, props: GroupCollectorProps): string {
  if (props.consumerGroupId !== undefined) return props.consumerGroupId;
  if (props.legacyConsumerGroupId) return LEGACY_CONSUMER_GROUP_ID;
  const stack = Stack.of(scope);
  const account = Token.isUnresolved(stack.account) ? Aws.ACCOUNT_ID : stack.account;
  const region = Token.isUnresolved(stack.region) ? Aws.REGION : stack.region;
  return `group-collector-${account}-${region}-${stack.stackName}-${scope.node.addr.slice(0, 8)}`;
}

/** Every problem with the props at once, each saying what to change. */
export function validate(
  scope: Construct,
  props: GroupCollectorProps,
  topics: Required<CollectorTopics>,
): void {
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
  for (const [name, value] of [
    ['reservedConcurrency.collector', props.reservedConcurrency?.collector],
    ['reservedConcurrency.timeouts', props.reservedConcurrency?.timeouts],
    ['reservedConcurrency.sweeper', props.reservedConcurrency?.sweeper],
    ['sweeperReservedConcurrency', props.sweeperReservedConcurrency],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      problems.push(`${name} must be a positive whole number; got ${value}`);
    }
  }
  if (props.sweeperReservedConcurrency !== undefined && props.reservedConcurrency?.sweeper !== undefined) {
    problems.push('give reservedConcurrency.sweeper or sweeperReservedConcurrency (deprecated), not both');
  }
  problems.push(...durationProblems(props), ...alarmProblems(props));
  for (const [name, value] of [
    ['metricsNamespace', props.metricsNamespace],
    ['deployment', props.deployment],
  ] as const) {
    if (value !== undefined && !Token.isUnresolved(value) && (value.length === 0 || value.length > 255)) {
      problems.push(`${name} must be 1-255 characters; got "${value}"`);
    }
  }
  if (props.outputPrefix !== undefined && !/^[A-Za-z0-9]{0,200}$/.test(props.outputPrefix)) {
    problems.push(
      `outputPrefix "${props.outputPrefix}" must be letters and digits only (it starts each output's name)`,
    );
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
  if (problems.length > 0) throw new GroupCollectorValidationError(problems);
}

/** The durations the functions read as whole seconds, each given once (the Duration or its deprecated number). */
function durationProblems(props: GroupCollectorProps): string[] {
  const problems: string[] = [];
  for (const [name, duration, oldName, seconds] of [
    ['retention', props.retention, 'retentionSeconds', props.retentionSeconds],
    ['earlyReportWait', props.earlyReportWait, 'earlyReportWaitSeconds', props.earlyReportWaitSeconds],
    ['maxTtl', props.maxTtl, 'maxTtlSeconds', props.maxTtlSeconds],
  ] as const) {
    if (duration !== undefined && seconds !== undefined) {
      problems.push(`give ${name} or ${oldName} (deprecated), not both`);
    }
    if (seconds !== undefined && (!Number.isInteger(seconds) || seconds <= 0)) {
      problems.push(`${oldName} must be a positive whole number of seconds; got ${seconds}`);
    }
    if (duration !== undefined && !Token.isUnresolved(duration) && wholeSeconds(duration) === undefined) {
      problems.push(`${name} must be a positive whole number of seconds; got ${duration.toHumanString()}`);
    }
  }
  // A decided group is remembered at least as long as the Kafka mapping may redeliver its Create: a
  // Create retried later would start the group again.
  const retention =
    props.retentionSeconds ??
    (props.retention && !Token.isUnresolved(props.retention) ? wholeSeconds(props.retention) : undefined);
  if (retention !== undefined && retention < KAFKA_ESM.maximumRecordAgeSeconds) {
    problems.push(
      `retention must be at least ${KAFKA_ESM.maximumRecordAgeSeconds} seconds (the Kafka mapping's maximum record age: a Create redelivered after its group is forgotten would start it again); got ${retention}`,
    );
  }
  return problems;
}

/** The alarms' settings: positive whole periods, thresholds that are numbers, one way of giving each. */
function alarmProblems(props: GroupCollectorProps): string[] {
  const problems: string[] = [];
  const { alarms } = props;
  if (alarms === false) return problems;
  for (const [name, settings] of Object.entries(alarms ?? {})) {
    if (settings === false || settings === undefined) continue;
    const { evaluationPeriods, datapointsToAlarm, threshold } = settings;
    if (evaluationPeriods !== undefined && (!Number.isInteger(evaluationPeriods) || evaluationPeriods < 1)) {
      problems.push(
        `alarms.${name}.evaluationPeriods must be a positive whole number; got ${evaluationPeriods}`,
      );
    }
    if (datapointsToAlarm !== undefined && (!Number.isInteger(datapointsToAlarm) || datapointsToAlarm < 1)) {
      problems.push(
        `alarms.${name}.datapointsToAlarm must be a positive whole number; got ${datapointsToAlarm}`,
      );
    }
    if (
      evaluationPeriods !== undefined &&
      datapointsToAlarm !== undefined &&
      datapointsToAlarm > evaluationPeriods
    ) {
      problems.push(
        `alarms.${name}.datapointsToAlarm ${datapointsToAlarm} exceeds evaluationPeriods ${evaluationPeriods}`,
      );
    }
    if (typeof threshold === 'number' && (!Number.isFinite(threshold) || threshold < 0)) {
      problems.push(`alarms.${name}.threshold must be a number of at least 0; got ${threshold}`);
    }
  }
  if (props.offsetLagThreshold !== undefined && alarms?.offsetLag !== undefined) {
    problems.push('give alarms.offsetLag or offsetLagThreshold (deprecated), not both');
  }
  if (props.iteratorAgeThreshold !== undefined && alarms?.iteratorAge !== undefined) {
    problems.push('give alarms.iteratorAge or iteratorAgeThreshold (deprecated), not both');
  }
  return problems;
}

/** A Duration as whole seconds, or undefined when it is not a positive whole number of them. */
export function wholeSeconds(duration: Duration): number | undefined {
  try {
    const seconds = duration.toSeconds();
    return seconds > 0 ? seconds : undefined;
  } catch {
    return undefined;
  }
}
