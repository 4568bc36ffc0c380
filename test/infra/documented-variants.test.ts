/**
 * The deployments the docs show (infra/documented-variants.ts) synthesize without errors or
 * unexpected warnings, and every context key is documented. CI also lints them
 * (scripts/cfn-lint.sh); this keeps the quick half inside npm test.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DOCUMENTED_VARIANTS } from '../../infra/documented-variants.ts';
import { CollectorStack } from '../../infra/lib/collector-stack.ts';
import { CONTEXT_KEYS, stackPropsFromContext } from '../../infra/lib/context.ts';

const DEPLOY_DOC = readFileSync(resolve(import.meta.dirname, '..', '..', 'docs', 'deploy.md'), 'utf8');

describe.each(Object.entries(DOCUMENTED_VARIANTS))('documented variant %s', (_name, variant) => {
  it('synthesizes with no error and only the warnings the docs explain', () => {
    // Prepare
    const app = new App({ context: { ...variant.context, 'aws:cdk:bundling-stacks': [] } });
    const { stackName, props } = stackPropsFromContext((key) => app.node.tryGetContext(key));
    // Act
    const stack = new CollectorStack(app, stackName, props);
    const annotations = Annotations.fromStack(stack);
    // Assess
    expect(annotations.findError('*', Match.anyValue())).toEqual([]);
    const warnings = annotations
      .findWarning('*', Match.anyValue())
      .map((w) => /\[ack: ([^\]]+)\]/.exec(String(w.entry.data))?.[1] ?? String(w.entry.data));
    expect(warnings.sort()).toEqual([...(variant.expectedWarnings ?? [])].sort());
    for (const id of warnings) expect(DEPLOY_DOC).toContain(`\`${id}\``);
  });
});

describe('docs/deploy.md', () => {
  it('documents every context key the app reads, in the context table', () => {
    // Prepare
    const table = DEPLOY_DOC.slice(DEPLOY_DOC.indexOf('## Context parameters'));
    // Act
    const missing = CONTEXT_KEYS.filter((key) => !table.includes(`\`${key}\``));
    // Assess
    expect(missing).toEqual([]);
  });
});
