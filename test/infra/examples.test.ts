/**
 * The example apps (examples/*.ts) synthesize as a user's `cdk synth` would, with no error, no
 * warning, no finding of cdk-nag's AWS Solutions or NIST 800-53 rev 5 checks, and the outputs
 * `group-collector inspect --stack` reads. CI also lints their templates (scripts/cfn-lint.sh).
 */
import { resolve } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_APPS } from '../../infra/documented-variants.ts';

describe.each(Object.entries(EXAMPLE_APPS))('example app %s', (_name, example) => {
  it('synthesizes cleanly, passes both cdk-nag packs, and outputs the table name', async () => {
    // Prepare
    const { app } = (await import(resolve(import.meta.dirname, '..', '..', example.path))) as { app: App };
    const [stack] = app.node.children.filter((child): child is Stack => child instanceof Stack);
    if (!stack) throw new Error(`${example.path} defines no stack`);
    // Act
    const template = Template.fromStack(stack);
    const reports = [new AwsSolutionsChecks(), new NIST80053R5Checks()].map((pack) =>
      pack.validateScope(stack),
    );
    // Assess
    const annotations = Annotations.fromStack(stack);
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    expect(annotations.findWarning('*', Match.anyValue())).toEqual([]);
    for (const report of reports) expect(report.violations).toEqual([]);
    template.hasOutput('TableName', Match.anyValue());
    // The three functions and the outcome key generator (a custom resource).
    template.resourceCountIs('AWS::Lambda::Function', 4);
  });
});
