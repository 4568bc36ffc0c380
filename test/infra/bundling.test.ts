import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { CollectorStack } from '../../infra/lib/collector-stack.ts';
import { ACCOUNT, REGION, VARIANTS } from './stacks.ts';

describe('function bundles', () => {
  it('bundles each handler with the project esbuild into an ES module that loads and exports handler', async () => {
    // Prepare: a real synth, bundling included (no Docker).
    const app = new App();
    const stack = new CollectorStack(app, 'Bundled', {
      env: { account: ACCOUNT, region: REGION },
      ...VARIANTS['msk-iam'],
    });
    const template = Template.fromStack(stack);
    const assembly = app.synth();
    // Act
    const functions = Object.values(template.findResources('AWS::Lambda::Function'));
    const modules = await Promise.all(
      functions.map((fn) => {
        const key = fn.Properties.Code.S3Key as string;
        const dir = join(assembly.directory, `asset.${key.replace(/\.zip$/, '')}`);
        expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
        return import(pathToFileURL(join(dir, 'index.mjs')).href) as Promise<{ handler?: unknown }>;
      }),
    );
    // Assess
    expect(functions).toHaveLength(3);
    for (const mod of modules) expect(typeof mod.handler).toBe('function');
  });
});
