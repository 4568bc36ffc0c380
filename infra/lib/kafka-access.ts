/**
 * How the collector reaches Kafka: Amazon MSK (IAM or SASL/SCRAM) or a
 * self-managed cluster (SASL/SCRAM, mutual TLS or none), the checks made on it
 * at synth time, and the MSK IAM resource ARNs derived from the cluster ARN.
 */
import { Token } from 'aws-cdk-lib';
import type * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';

/** The values of KAFKA_AUTH the functions understand (functions/shared/kafka-auth.ts). */
export type KafkaAuth = 'iam' | 'scram-sha-512' | 'mtls' | 'none';
export const MSK_AUTHS = ['iam', 'scram-sha-512'] as const;
export const SELF_MANAGED_AUTHS = ['scram-sha-512', 'mtls', 'none'] as const;
export type MskAuth = (typeof MSK_AUTHS)[number];
export type SelfManagedAuth = (typeof SELF_MANAGED_AUTHS)[number];

export interface MskKafka {
  readonly kind: 'msk';
  /** ARN of the MSK cluster (provisioned or serverless), in the stack's account and Region. */
  readonly clusterArn: string;
  /** Bootstrap brokers for the functions' producers, for the chosen auth (IAM: port 9098, SCRAM: 9096). */
  readonly bootstrapServers: readonly string[];
  readonly auth: MskAuth;
  /** SASL/SCRAM credentials `{"username","password"}`; MSK requires the name prefix `AmazonMSK_` and a customer managed KMS key. */
  readonly secret?: secretsmanager.ISecret;
  /** The customer managed key that encrypts the secret (MSK SCRAM requires one). */
  readonly secretKey?: kms.IKey;
}

export interface SelfManagedKafka {
  readonly kind: 'self-managed';
  readonly bootstrapServers: readonly string[];
  readonly auth: SelfManagedAuth;
  /** SCRAM `{"username","password"}` or mTLS `{"certificate","privateKey","privateKeyPassword"?}` (AWS formats). */
  readonly secret?: secretsmanager.ISecret;
  /** Root CA `{"certificate"}` for brokers whose certificates a private CA signed. */
  readonly rootCaSecret?: secretsmanager.ISecret;
  /** A customer managed key that encrypts the secrets, if not the AWS managed one. */
  readonly secretKey?: kms.IKey;
  /** Whether the functions' producers use TLS; default: on unless auth is `none`. */
  readonly tls?: boolean;
}

export type KafkaCluster = MskKafka | SelfManagedKafka;

/** Where the functions (and a self-managed cluster's event source mapping) run when the brokers are private. */
export interface CollectorNetwork {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  /** Must be allowed in by the brokers' security group on the broker ports; the first one is given to the mapping. */
  readonly securityGroups: readonly ec2.ISecurityGroup[];
}

export interface MskClusterArn {
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly name: string;
  readonly uuid: string;
}

const MSK_CLUSTER_ARN =
  /^arn:(aws[a-z-]*):kafka:([a-z0-9-]+):(\d{12}):cluster\/([A-Za-z0-9-]+)\/([A-Za-z0-9-]+)$/;
const BROKER = /^[A-Za-z0-9.-]+:\d{1,5}$/;
const TOPIC = /^[A-Za-z0-9._-]{1,249}$/;
/** Topic patterns for MSK IAM policies may end with `*`. */
const TOPIC_PATTERN = /^[A-Za-z0-9._-]*\*?$/;
const CONSUMER_GROUP = /^[a-zA-Z0-9\-/*:_+=.@]{1,200}$/;

export function parseMskClusterArn(arn: string): MskClusterArn | undefined {
  const m = MSK_CLUSTER_ARN.exec(arn);
  if (!m) return undefined;
  const [, partition = '', region = '', account = '', name = '', uuid = ''] = m;
  return { partition, region, account, name, uuid };
}

/** MSK IAM resource ARNs: `topic/<cluster>/<uuid>/<topic>`, `group/<cluster>/<uuid>/<group>`. */
export function mskResourceArn(cluster: MskClusterArn, kind: 'topic' | 'group', name: string): string {
  return `arn:${cluster.partition}:kafka:${cluster.region}:${cluster.account}:${kind}/${cluster.name}/${cluster.uuid}/${name}`;
}

export function isValidTopic(name: string): boolean {
  return TOPIC.test(name) && name !== '.' && name !== '..';
}

export function isValidTopicPattern(pattern: string): boolean {
  return pattern.length > 0 && pattern.length <= 249 && TOPIC_PATTERN.test(pattern);
}

export function isValidConsumerGroupId(id: string): boolean {
  return CONSUMER_GROUP.test(id);
}

/** Problems with the Kafka part of the props, each a sentence saying what to change. */
export function kafkaProblems(kafka: KafkaCluster, network: CollectorNetwork | undefined): string[] {
  const problems: string[] = [];
  if (kafka.bootstrapServers.length === 0) {
    problems.push(
      'kafka.bootstrapServers is empty: give the brokers as host:port (the functions produce to them)',
    );
  }
  for (const broker of kafka.bootstrapServers) {
    if (!Token.isUnresolved(broker) && !BROKER.test(broker)) {
      problems.push(`kafka.bootstrapServers: "${broker}" is not host:port`);
    }
  }
  if (kafka.kind === 'msk') {
    if (!Token.isUnresolved(kafka.clusterArn) && !parseMskClusterArn(kafka.clusterArn)) {
      problems.push(
        `kafka.clusterArn "${kafka.clusterArn}" is not an MSK cluster ARN (arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>)`,
      );
    }
    if (!(MSK_AUTHS as readonly string[]).includes(kafka.auth)) {
      problems.push(`kafka.auth "${kafka.auth}" is not supported for MSK: use ${MSK_AUTHS.join(' or ')}`);
    }
    if (kafka.auth === 'scram-sha-512' && !kafka.secret) {
      problems.push(
        'MSK with SASL/SCRAM needs kafka.secret (an AmazonMSK_… secret associated with the cluster)',
      );
    }
    if (kafka.auth === 'scram-sha-512' && kafka.secret && !Token.isUnresolved(kafka.secret.secretArn)) {
      const name = kafka.secret.secretArn.split(':secret:')[1] ?? '';
      if (!name.startsWith('AmazonMSK_')) {
        problems.push(`MSK SCRAM secrets must be named AmazonMSK_…; got "${name}"`);
      }
    }
    if (kafka.auth === 'scram-sha-512' && !kafka.secretKey) {
      problems.push(
        'MSK with SASL/SCRAM needs kafka.secretKey: MSK secrets must be encrypted with a customer managed key, and without it neither the mapping nor the functions may decrypt the secret',
      );
    }
    if (kafka.auth === 'iam' && kafka.secret) {
      problems.push('MSK with IAM auth signs with the functions’ role: remove kafka.secret');
    }
    if (!network) {
      problems.push(
        'MSK brokers are reachable only inside their VPC: set network (vpc, subnets, securityGroups) so the functions can produce',
      );
    }
  } else {
    if (!(SELF_MANAGED_AUTHS as readonly string[]).includes(kafka.auth)) {
      problems.push(
        `kafka.auth "${kafka.auth}" is not supported for self-managed Kafka: use ${SELF_MANAGED_AUTHS.join(', ')}`,
      );
    }
    if ((kafka.auth === 'scram-sha-512' || kafka.auth === 'mtls') && !kafka.secret) {
      problems.push(`self-managed Kafka with ${kafka.auth} needs kafka.secret (Secrets Manager)`);
    }
    if (kafka.auth === 'none' && kafka.secret) {
      problems.push(
        'kafka.auth is "none" but kafka.secret is set: choose scram-sha-512 or mtls, or drop the secret',
      );
    }
    if (kafka.auth === 'none' && !network) {
      problems.push(
        'self-managed brokers without authentication must be private: set network (Lambda refuses unauthenticated brokers over the internet)',
      );
    }
    if (kafka.auth === 'mtls' && kafka.tls === false) {
      problems.push('mutual TLS cannot run with kafka.tls = false');
    }
    if (kafka.rootCaSecret && kafka.tls === false) {
      problems.push('kafka.rootCaSecret is set but kafka.tls = false: the root CA is only used for TLS');
    }
  }
  if (network && network.securityGroups.length === 0) {
    problems.push('network.securityGroups is empty: give at least one security group the brokers let in');
  }
  return problems;
}

/** Whether the functions' producers use TLS. */
export function producerTls(kafka: KafkaCluster): boolean {
  if (kafka.kind === 'msk') return true;
  return kafka.tls ?? kafka.auth !== 'none';
}
