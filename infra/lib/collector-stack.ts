/**
 * The deployable stack: turns plain settings (from CDK context or a test) into
 * the imported AWS resources the GroupCollector construct needs (which also
 * exports the names an operator looks for).
 */
import { Annotations, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import { type CollectorTopics, GroupCollector } from './group-collector.ts';
import type { CollectorNetwork, KafkaAuth, KafkaCluster, MskAuth, SelfManagedAuth } from './kafka-access.ts';

export interface CollectorStackProps extends StackProps {
  /** How the collector reaches Kafka. */
  readonly kafka: 'msk' | 'self-managed';
  /** MSK only: the cluster's ARN. */
  readonly mskClusterArn?: string;
  /** Brokers the functions produce to (host:port). */
  readonly bootstrapServers: readonly string[];
  /** Default: `iam` for MSK, `scram-sha-512` for self-managed. */
  readonly kafkaAuth?: KafkaAuth;
  /** Complete ARN of the SCRAM or mTLS secret. */
  readonly kafkaSecretArn?: string;
  /** Customer managed KMS key that encrypts the secret (MSK SCRAM requires one). */
  readonly kafkaSecretKmsKeyArn?: string;
  /** Self-managed only: root CA secret for brokers signed by a private CA. */
  readonly kafkaRootCaSecretArn?: string;
  /** Self-managed only: whether the producers use TLS (default: on unless auth is none). */
  readonly kafkaTls?: boolean;
  /** Private brokers: the VPC, subnets and security groups the functions (and a self-managed mapping) use. */
  readonly vpcId?: string;
  readonly subnetIds?: readonly string[];
  readonly securityGroupIds?: readonly string[];
  readonly topics?: CollectorTopics;
  readonly replyToTopics?: readonly string[];
  readonly consumerGroupId?: string;
  /** Keep `eventbus-group-collector`, the id of stacks deployed before 0.2.0. */
  readonly legacyConsumerGroupId?: boolean;
  readonly startingPosition?: 'TRIM_HORIZON' | 'LATEST';
  readonly provisionedPollers?: lambda.ProvisionedPollerConfig | false;
  readonly tableName?: string;
  readonly removalPolicy?: RemovalPolicy;
  readonly logRetentionDays?: logs.RetentionDays;
  readonly alarmTopicArn?: string;
  readonly retentionSeconds?: number;
  readonly earlyReportWaitSeconds?: number;
  readonly sweeperReservedConcurrency?: number;
  readonly metricsNamespace?: string;
  readonly deployment?: string;
  readonly sourceMaps?: boolean;
}

export class CollectorStack extends Stack {
  readonly collector: GroupCollector;

  constructor(scope: Construct, id: string, props: CollectorStackProps) {
    super(scope, id, {
      description: 'Group collector for a Kafka event bus (Lambda, DynamoDB, Kafka event source mapping)',
      ...props,
    });
    const network = this.network(props);
    this.collector = new GroupCollector(this, 'GroupCollector', {
      kafka: this.kafkaCluster(props),
      network,
      topics: props.topics,
      replyToTopics: props.replyToTopics,
      consumerGroupId: props.consumerGroupId,
      legacyConsumerGroupId: props.legacyConsumerGroupId,
      startingPosition: props.startingPosition ? lambda.StartingPosition[props.startingPosition] : undefined,
      provisionedPollers: props.provisionedPollers,
      tableName: props.tableName,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      logRetention: props.logRetentionDays,
      alarmTopic: props.alarmTopicArn
        ? sns.Topic.fromTopicArn(this, 'AlarmTopic', props.alarmTopicArn)
        : undefined,
      retention: seconds(props.retentionSeconds),
      earlyReportWait: seconds(props.earlyReportWaitSeconds),
      reservedConcurrency: { sweeper: props.sweeperReservedConcurrency },
      metricsNamespace: props.metricsNamespace,
      deployment: props.deployment,
      sourceMaps: props.sourceMaps,
    });
    // The outputs (TableName, topics, functions, …) are the construct's own.
  }

  private kafkaCluster(props: CollectorStackProps): KafkaCluster {
    const secret = props.kafkaSecretArn ? this.importSecret('KafkaSecret', props.kafkaSecretArn) : undefined;
    const secretKey = props.kafkaSecretKmsKeyArn
      ? kms.Key.fromKeyArn(this, 'KafkaSecretKey', props.kafkaSecretKmsKeyArn)
      : undefined;
    if (props.kafka === 'msk') {
      if (!props.mskClusterArn) {
        throw new Error('CollectorStack: kafka=msk needs mskClusterArn (-c mskClusterArn=arn:aws:kafka:…)');
      }
      return {
        kind: 'msk',
        clusterArn: props.mskClusterArn,
        bootstrapServers: props.bootstrapServers,
        auth: (props.kafkaAuth ?? 'iam') as MskAuth,
        secret,
        secretKey,
      };
    }
    if (props.mskClusterArn) {
      throw new Error('CollectorStack: mskClusterArn is set but kafka=self-managed; choose one');
    }
    return {
      kind: 'self-managed',
      bootstrapServers: props.bootstrapServers,
      auth: (props.kafkaAuth ?? 'scram-sha-512') as SelfManagedAuth,
      secret,
      secretKey,
      rootCaSecret: props.kafkaRootCaSecretArn
        ? this.importSecret('KafkaRootCa', props.kafkaRootCaSecretArn)
        : undefined,
      tls: props.kafkaTls,
    };
  }

  private importSecret(id: string, arn: string): secretsmanager.ISecret {
    // A complete ARN ends with the 6-character suffix Secrets Manager adds; grants then name it exactly.
    const complete = /:secret:.+-[A-Za-z0-9]{6}$/.test(arn);
    return complete
      ? secretsmanager.Secret.fromSecretCompleteArn(this, id, arn)
      : secretsmanager.Secret.fromSecretPartialArn(this, id, arn);
  }

  private network(props: CollectorStackProps): CollectorNetwork | undefined {
    const { vpcId, subnetIds = [], securityGroupIds = [] } = props;
    if (!vpcId) {
      if (subnetIds.length > 0 || securityGroupIds.length > 0) {
        throw new Error('CollectorStack: subnetIds/securityGroupIds given without vpcId');
      }
      return undefined;
    }
    if (subnetIds.length === 0 || securityGroupIds.length === 0) {
      throw new Error(
        'CollectorStack: with vpcId give subnetIds and securityGroupIds too (private subnets that reach the brokers)',
      );
    }
    // Imported by id: synth makes no look-ups and needs no credentials. Route tables are not needed:
    // nothing here adds routes or gateway endpoints.
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId,
      availabilityZones: subnetIds.map((_, i) => `${this.region}-az${i + 1}`),
      privateSubnetIds: [...subnetIds],
    });
    Annotations.of(vpc).acknowledgeWarning(
      '@aws-cdk/aws-ec2:noSubnetRouteTableId',
      'subnets are imported by id; their route tables are never read',
    );
    return {
      vpc,
      subnets: { subnets: vpc.privateSubnets },
      securityGroups: securityGroupIds.map((sg, i) =>
        ec2.SecurityGroup.fromSecurityGroupId(this, `SecurityGroup${i}`, sg, { mutable: false }),
      ),
    };
  }
}

function seconds(value: number | undefined): Duration | undefined {
  return value === undefined ? undefined : Duration.seconds(value);
}
