/**
 * The deploy traps of issue 18, each one a template that CloudFormation or Lambda would have refused
 * (or that deployed into trouble): fixed at synth time, and kept fixed here.
 */
import { App, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as kms from 'aws-cdk-lib/aws-kms';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { ENV, loadSettings } from '#shared/config.ts';
import { METRICS } from '#shared/metrics.ts';
import { CollectorStack, type CollectorStackProps } from '../../infra/lib/collector-stack.ts';
import { stackPropsFromContext } from '../../infra/lib/context.ts';
import {
  GroupCollector,
  LEGACY_CONSUMER_GROUP_ID,
  LOG_RETENTION_DAYS,
} from '../../infra/lib/group-collector.ts';
import { ACCOUNT, build, CLUSTER_ARN, KMS_KEY, NETWORK, REGION, SCRAM_SECRET, VARIANTS } from './stacks.ts';

/** Resource types whose DeletionPolicy / UpdateReplacePolicy may be Snapshot (CloudFormation's list). */
const SNAPSHOT_TYPES = new Set([
  'AWS::DynamoDB::Table',
  'AWS::EC2::Volume',
  'AWS::ElastiCache::CacheCluster',
  'AWS::ElastiCache::ReplicationGroup',
  'AWS::Neptune::DBCluster',
  'AWS::RDS::DBCluster',
  'AWS::RDS::DBInstance',
  'AWS::Redshift::Cluster',
]);

const synth = (props: Partial<CollectorStackProps>, id = 'Traps') =>
  new CollectorStack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), id, {
    env: { account: ACCOUNT, region: REGION },
    ...VARIANTS['msk-iam'],
    ...props,
  } as CollectorStackProps);

const resources = (template: Template) =>
  Object.values(template.toJSON().Resources as Record<string, Record<string, unknown>>);

describe('removal policy', () => {
  it('snapshot is refused at synth (no resource here supports it), from props and from context', () => {
    // Prepare
    const read = (ctx: Record<string, string>) => (key: string) => ctx[key];
    // Act / Assess
    expect(() => synth({ removalPolicy: RemovalPolicy.SNAPSHOT })).toThrow(
      /removalPolicy snapshot is not supported: use RETAIN or DESTROY/,
    );
    expect(() => stackPropsFromContext(read({ removalPolicy: 'snapshot' }))).toThrow(
      /context removalPolicy must be one of retain, destroy/,
    );
  });

  it('every DeletionPolicy and UpdateReplacePolicy written is one CloudFormation accepts for its type', () => {
    // Prepare / Act
    for (const policy of [RemovalPolicy.RETAIN, RemovalPolicy.DESTROY]) {
      const stack = synth({ removalPolicy: policy });
      const template = Template.fromStack(stack);
      // Assess
      for (const r of resources(template)) {
        for (const value of [r.DeletionPolicy, r.UpdateReplacePolicy]) {
          if (value === undefined) continue;
          expect(['Delete', 'Retain', 'RetainExceptOnCreate', 'Snapshot']).toContain(value);
          if (value === 'Snapshot') expect(SNAPSHOT_TYPES.has(String(r.Type))).toBe(true);
        }
      }
      expect(
        Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('[Rr]emoval|DeletionPolicy')),
      ).toEqual([]);
    }
  });

  it('the table is deletion-protected unless the removal policy is destroy', () => {
    // Prepare / Act
    const kept = [
      build('msk-iam').template,
      Template.fromStack(synth({ removalPolicy: RemovalPolicy.RETAIN })),
    ];
    const destroyed = Template.fromStack(synth({ removalPolicy: RemovalPolicy.DESTROY }));
    // Assess
    for (const template of kept) {
      template.hasResourceProperties('AWS::DynamoDB::Table', { DeletionProtectionEnabled: true });
    }
    destroyed.hasResource('AWS::DynamoDB::Table', {
      DeletionPolicy: 'Delete',
      Properties: Match.objectLike({ DeletionProtectionEnabled: false }),
    });
  });
});

describe('log retention', () => {
  it('accepts only the values CloudFormation accepts, from props and from context, with the list in the message', () => {
    // Prepare
    const read = (ctx: Record<string, string>) => (key: string) => ctx[key];
    // Act / Assess
    expect(() => synth({ logRetentionDays: 10 as logs.RetentionDays })).toThrow(
      /logRetention 10 days is not a value CloudFormation accepts: use one of 1, 3, 5, 7, 14, 30/,
    );
    expect(() => stackPropsFromContext(read({ logRetentionDays: '10' }))).toThrow(
      /context logRetentionDays 10 is not a value CloudFormation accepts/,
    );
    expect(LOG_RETENTION_DAYS).toEqual(expect.arrayContaining([1, 3, 5, 7, 14, 30, 60, 90, 365, 3653]));
    expect(LOG_RETENTION_DAYS).not.toContain(9999);
    const template = Template.fromStack(synth({ logRetentionDays: 14 }));
    template.allResourcesProperties('AWS::Logs::LogGroup', { RetentionInDays: 14 });
  });
});

describe('sweeper concurrency', () => {
  it('reserves none by default (the lease keeps one sweeper at a time) and exactly what is asked when opted in', () => {
    // Prepare / Act
    const byDefault = build('msk-iam').template;
    const reserved = Template.fromStack(synth({ sweeperReservedConcurrency: 1 }));
    // Assess
    byDefault.allResourcesProperties('AWS::Lambda::Function', {
      ReservedConcurrentExecutions: Match.absent(),
    });
    reserved.hasResourceProperties('AWS::Lambda::Function', {
      Description: 'group collector: sweeper',
      ReservedConcurrentExecutions: 1,
    });
    expect(
      Object.keys(
        reserved.findResources('AWS::Lambda::Function', { Properties: { ReservedConcurrentExecutions: 1 } }),
      ),
    ).toHaveLength(1);
    expect(() => synth({ sweeperReservedConcurrency: 0 })).toThrow(
      /reservedConcurrency.sweeper must be a positive/,
    );
  });
});

describe('MSK SASL/SCRAM', () => {
  it('refuses to synthesize without the customer managed key that encrypts the secret', () => {
    // Prepare
    const scram = VARIANTS['msk-scram'];
    // Act / Assess
    expect(() => synth({ ...scram, kafkaSecretKmsKeyArn: undefined })).toThrow(
      /MSK with SASL\/SCRAM needs kafka.secretKey: MSK secrets must be encrypted/,
    );
    expect(() => synth(scram)).not.toThrow();
  });
});

describe('consumer group id', () => {
  it('is derived per deployment: different stacks differ, the same stack keeps its id across syntheses', () => {
    // Prepare / Act
    const first = synth({}, 'Staging').collector.consumerGroupId;
    const again = synth({}, 'Staging').collector.consumerGroupId;
    const other = synth({}, 'Production').collector.consumerGroupId;
    const selfManaged = { ...VARIANTS['self-managed-mtls-public'], mskClusterArn: undefined };
    const here = synth(selfManaged, 'Staging').collector.consumerGroupId;
    const otherAccount = synth(
      { ...selfManaged, env: { account: '444455556666', region: REGION } },
      'Staging',
    ).collector.consumerGroupId;
    // Assess
    expect(first).toBe(again);
    expect(first).not.toBe(other);
    expect(first).toMatch(/^group-collector-111122223333-eu-west-1-Staging-[0-9a-f]{8}$/);
    expect(first.length).toBeLessThanOrEqual(200);
    expect(here).not.toBe(otherAccount);
  });

  it('keeps the legacy id for a stack that already runs, only when asked, and tells the operator at synth', () => {
    // Prepare / Act
    const legacy = synth({ legacyConsumerGroupId: true });
    const derived = synth({});
    const fromContext = stackPropsFromContext((key) => ({ legacyConsumerGroupId: 'true' })[key]);
    // Assess
    expect(legacy.collector.consumerGroupId).toBe(LEGACY_CONSUMER_GROUP_ID);
    expect(LEGACY_CONSUMER_GROUP_ID).toBe('eventbus-group-collector');
    Template.fromStack(legacy).hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: 'eventbus-group-collector' },
    });
    expect(fromContext.props.legacyConsumerGroupId).toBe(true);
    expect(
      Annotations.fromStack(derived).findWarning('*', Match.stringLikeRegexp('legacyConsumerGroupId: true')),
    ).toHaveLength(1);
    expect(
      Annotations.fromStack(legacy).findWarning('*', Match.stringLikeRegexp('legacyConsumerGroupId')),
    ).toEqual([]);
    expect(() => synth({ legacyConsumerGroupId: true, consumerGroupId: 'mine' })).toThrow(/not both/);
  });

  it('uses CloudFormation references for the account and Region of an environment-agnostic stack', () => {
    // Prepare
    const stack = new Stack(new App({ context: { 'aws:cdk:bundling-stacks': [] } }), 'Agnostic');
    const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', {
      vpcId: NETWORK.vpcId,
      availabilityZones: ['a', 'b'],
      privateSubnetIds: NETWORK.subnetIds,
    });
    // Act
    new GroupCollector(stack, 'Collector', {
      kafka: {
        kind: 'msk',
        clusterArn: CLUSTER_ARN,
        bootstrapServers: ['b-1.example:9096'],
        auth: 'scram-sha-512',
        secret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Secret', SCRAM_SECRET),
        secretKey: kms.Key.fromKeyArn(stack, 'Key', KMS_KEY),
      },
      network: {
        vpc,
        subnets: { subnets: vpc.privateSubnets },
        securityGroups: [
          ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', NETWORK.securityGroupIds[0] ?? ''),
        ],
      },
    });
    // Assess
    const mapping = Template.fromStack(stack).findResources('AWS::Lambda::EventSourceMapping', {
      Properties: { EventSourceArn: CLUSTER_ARN },
    });
    const id = JSON.stringify(Object.values(mapping)[0]?.Properties.AmazonManagedKafkaEventSourceConfig);
    expect(id).toContain('AWS::AccountId');
    expect(id).toContain('AWS::Region');
    expect(id).toContain('-Agnostic-');
  });
});

describe('metrics per deployment', () => {
  it('sets the namespace and deployment the functions read (ENV), and the alarms read the same', () => {
    // Prepare / Act
    const a = Template.fromStack(synth({}, 'Blue'));
    const b = Template.fromStack(
      synth({ metricsNamespace: 'Payments/Collector', deployment: 'green' }, 'Green'),
    );
    const settingsOf = (template: Template) =>
      // The three functions (the outcome key generator, a custom resource, has no environment).
      Object.values(template.findResources('AWS::Lambda::Function'))
        .filter((fn) => fn.Properties.Environment !== undefined)
        .map((fn) => loadSettings(fn.Properties.Environment.Variables));
    // Assess: what the functions will load from their environment.
    for (const s of settingsOf(a)) {
      expect(s.metricsNamespace).toBe(METRICS.namespace);
      expect(s.deployment).toBe('Blue/GroupCollector');
    }
    for (const s of settingsOf(b)) {
      expect(s.metricsNamespace).toBe('Payments/Collector');
      expect(s.deployment).toBe('green');
    }
    b.hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          [ENV.metricsNamespace]: 'Payments/Collector',
          [ENV.deployment]: 'green',
        }),
      },
    });
    b.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Namespace: 'Payments/Collector',
      Dimensions: Match.arrayWith([{ Name: METRICS.deploymentDimension, Value: 'green' }]),
    });
  });
});
