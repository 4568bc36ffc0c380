/**
 * What a producer or a client application needs on an MSK cluster with IAM access control, granted
 * to its role by `GroupCollector.grantProduce` and `GroupCollector.grantClient`. Kafka ACLs for
 * SCRAM and mutual-TLS clusters cannot be expressed in IAM: docs/clients.md lists them.
 */
import { Fn, Token } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { isValidTopicPattern, type KafkaCluster, parseMskClusterArn } from './kafka-access.ts';

/** The client's default consumer group id prefix (`groupIdPrefix` of the client, `client/index.ts`). */
export const CLIENT_GROUP_ID_PREFIX = 'group-collector-client';

/** What `grantClient` grants beyond the input and outcome topics. */
export interface GrantClientOptions {
  /**
   * Further topics the client reads outcomes from: the `replyTo` topics of the groups it awaits
   * (names, or `prefix*` patterns). Default none.
   */
  readonly outcomeTopics?: readonly string[];
  /**
   * The client's `groupIdPrefix`: its consumer group is `<prefix>-<uuid>`, created on its first
   * wait and deleted by `close()`. Default `group-collector-client`.
   */
  readonly groupIdPrefix?: string;
}

/** The producer's side: connect, describe and write the input topic, idempotently (as the client and the CLI produce). */
export const PRODUCE_ACTIONS = {
  cluster: ['kafka-cluster:Connect', 'kafka-cluster:WriteDataIdempotently'],
  topic: ['kafka-cluster:DescribeTopic', 'kafka-cluster:WriteData'],
} as const;

/** The client's reading side: outcome topics, and its own consumer groups (join, offsets, delete on close). */
export const CLIENT_READ_ACTIONS = {
  topic: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
  group: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup', 'kafka-cluster:DeleteGroup'],
} as const;

interface GrantTarget {
  readonly kafka: KafkaCluster;
  readonly inputTopic: string;
  readonly outcomeTopic: string;
}

/** Allows the grantee to write to the collector's input topic. */
export function grantProduce(target: GrantTarget, grantee: iam.IGrantable): iam.Grant {
  const clusterArn = mskIamCluster(target, 'grantProduce');
  return iam.Grant.addToPrincipal({
    grantee,
    actions: [...PRODUCE_ACTIONS.cluster],
    resourceArns: [clusterArn],
  }).combine(
    iam.Grant.addToPrincipal({
      grantee,
      actions: [...PRODUCE_ACTIONS.topic],
      resourceArns: [resourceArn(clusterArn, 'topic', target.inputTopic)],
    }),
  );
}

/**
 * Allows the grantee to run the client: produce to the input topic, read the outcome topics, and
 * create and delete its `<groupIdPrefix>-<uuid>` consumer groups.
 */
export function grantClient(
  target: GrantTarget,
  grantee: iam.IGrantable,
  options: GrantClientOptions = {},
): iam.Grant {
  const clusterArn = mskIamCluster(target, 'grantClient');
  const prefix = options.groupIdPrefix ?? CLIENT_GROUP_ID_PREFIX;
  const problems = [
    ...(options.outcomeTopics ?? [])
      .filter((t) => !Token.isUnresolved(t) && !isValidTopicPattern(t))
      .map((t) => `outcomeTopics: "${t}" is not a topic name or prefix*`),
    ...(!Token.isUnresolved(prefix) && (prefix === '' || /[*?]/.test(prefix))
      ? [`groupIdPrefix "${prefix}" must be the client's prefix: not empty, no * or ?`]
      : []),
  ];
  if (problems.length > 0) throw new Error(`GroupCollector.grantClient: ${problems.join('; ')}`);
  const outcomeTopics = [...new Set([target.outcomeTopic, ...(options.outcomeTopics ?? [])])];
  const read = (actions: readonly string[], resourceArns: string[]) =>
    iam.Grant.addToPrincipal({ grantee, actions: [...actions], resourceArns });
  return grantProduce(target, grantee)
    .combine(
      read(
        CLIENT_READ_ACTIONS.topic,
        outcomeTopics.map((t) => resourceArn(clusterArn, 'topic', t)),
      ),
    )
    .combine(read(CLIENT_READ_ACTIONS.group, [resourceArn(clusterArn, 'group', `${prefix}-*`)]));
}

function mskIamCluster(target: GrantTarget, method: string): string {
  const { kafka } = target;
  if (kafka.kind !== 'msk' || kafka.auth !== 'iam') {
    const what = kafka.kind === 'msk' ? `MSK with ${kafka.auth}` : `self-managed Kafka with ${kafka.auth}`;
    throw new Error(
      `GroupCollector.${method}: IAM grants apply to MSK with IAM access control only; this collector uses ${what}, ` +
        'whose permissions are Kafka ACLs on the cluster (see "Kafka ACLs" in docs/clients.md)',
    );
  }
  return kafka.clusterArn;
}

/**
 * `arn:<partition>:kafka:<region>:<account>:<kind>/<cluster name>/<cluster uuid>/<name>`, from the
 * cluster ARN `…:cluster/<cluster name>/<cluster uuid>`; a CloudFormation expression when the
 * cluster ARN is only known at deploy time (a cluster of the same app, say).
 */
export function resourceArn(clusterArn: string, kind: 'topic' | 'group', name: string): string {
  const cluster = parseMskClusterArn(clusterArn);
  if (cluster) {
    return `arn:${cluster.partition}:kafka:${cluster.region}:${cluster.account}:${kind}/${cluster.name}/${cluster.uuid}/${name}`;
  }
  const [head, tail] = Fn.split(':cluster/', clusterArn, 2);
  return Fn.join('', [head ?? '', `:${kind}/`, tail ?? '', `/${name}`]);
}
