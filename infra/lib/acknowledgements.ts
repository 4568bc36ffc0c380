/**
 * Findings of the checks run on the synthesized stack that are deliberate, each acknowledged with
 * its reason where the resource is made: cdk-nag (AWS Solutions) and cfn-lint's serverless rules.
 */
import { type CfnResource, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { GroupCollectorProps } from './collector-props.ts';
import type { GroupCollector } from './group-collector.ts';
import { type MskClusterArn, mskResourceArn } from './kafka-access.ts';

/**
 * cfn-lint serverless-rules findings that are deliberate, each with its reason (docs/deploy.md,
 * "Synth and lint warnings"): written as the resources' `cfn-lint` metadata, which cfn-lint reads.
 */
export function acknowledgeLintFindings(construct: GroupCollector, provisionedMode: boolean): void {
  const ignore = (resource: CfnResource, ...checks: string[]) =>
    resource.addMetadata('cfn-lint', { config: { ignore_checks: checks } });
  // ES1001 (a mapping without an on-failure destination) with provisionedPollers: false only: AWS
  // accepts a Kafka on-failure destination in provisioned mode only; the operator chose that trade-off.
  if (!provisionedMode) ignore(construct.kafkaMapping.node.defaultChild as CfnResource, 'ES1001');
  // ES6000 (a queue without a redrive policy): this queue is itself the stream mapping's dead-letter
  // destination, read by operators and watched by StreamFailuresDepth; nothing redrives from it.
  ignore(construct.streamFailureQueue.node.defaultChild as CfnResource, 'ES6000');
  // ES4000 / ES1007 (no dead-letter queue or on-failure destination for the scheduled sweeper): a
  // missed run has nothing to replay; the next minute's run sweeps every due deadline (they stay in
  // the index until decided), and SweeperErrors / SweeperThrottles alarm on failures.
  for (const child of construct.node.findAll()) {
    if (child instanceof events.CfnRule) ignore(child, 'ES4000');
    if (child instanceof lambda.CfnPermission && String(child.principal).startsWith('events.amazonaws.com')) {
      ignore(child, 'ES1007');
    }
  }
}

/** cdk-nag findings that are deliberate, each with its reason. */
export function acknowledgeNagFindings(
  construct: GroupCollector,
  props: GroupCollectorProps,
  msk: MskClusterArn | undefined,
): void {
  for (const fn of Object.values(construct.functions)) {
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
  Validations.of(construct.functions.timeouts.role as iam.Role).acknowledge({
    id: 'AwsSolutions-IAM5[Resource::*]',
    reason:
      'dynamodb:ListStreams, required by the stream event source mapping, does not support resource-level permissions; the stream itself is named in the other actions.',
  });
  Validations.of(construct.streamFailureQueue).acknowledge({
    id: 'AwsSolutions-SQS3',
    reason:
      'This queue is itself the dead-letter destination of the stream event source mapping; it is watched by the StreamFailuresDepth alarm.',
  });
  for (const pattern of props.replyToTopics ?? []) {
    if (pattern.endsWith('*') && msk) {
      for (const fn of Object.values(construct.functions)) {
        Validations.of(fn.role as iam.Role).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${mskResourceArn(msk, 'topic', pattern)}]`,
          reason: 'replyTo topics configured as a prefix pattern: groups may name any topic under it.',
        });
      }
    }
  }
}
