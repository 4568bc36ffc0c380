import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { FUNCTIONS } from '#shared/aws.ts';
import { CollectorStack } from '../../infra/lib/collector-stack.ts';
import { HANDLER_SIZE_LIMIT_BYTES, handlerSizes, handlersDir } from '../../infra/lib/handlers.ts';
import { ACCOUNT, REGION, VARIANTS } from './stacks.ts';

/** The synthesized asset directory of every function, by its description. */
function assets(sourceMaps: boolean): { template: Template; dirs: Record<string, string> } {
  const app = new App();
  const stack = new CollectorStack(app, 'Bundled', {
    env: { account: ACCOUNT, region: REGION },
    ...VARIANTS['msk-iam'],
    sourceMaps,
  });
  const template = Template.fromStack(stack);
  const assembly = app.synth();
  const dirs: Record<string, string> = {};
  for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
    // The outcome key generator is inline code (Code.ZipFile), not a bundle.
    if (fn.Properties.Code.ZipFile !== undefined) continue;
    const key = fn.Properties.Code.S3Key as string;
    dirs[String(fn.Properties.Description).replace('group collector: ', '')] = join(
      assembly.directory,
      `asset.${key.replace(/\.zip$/, '')}`,
    );
  }
  return { template, dirs };
}

describe('function bundles', () => {
  it('deploys the pre-bundled handlers: ES modules that load and export handler, without source maps', async () => {
    // Prepare: a real synth (the handlers were built by the infra global setup; no bundler runs here).
    const { dirs } = assets(false);
    // Act: load the built modules (beside their maps, so that the test runner can read them).
    const modules = await Promise.all(
      Object.keys(dirs).map(
        (name) =>
          import(pathToFileURL(join(handlersDir(), name, 'index.mjs')).href) as Promise<{
            handler?: unknown;
          }>,
      ),
    );
    // Assess: the asset is the built file, byte for byte, and nothing else.
    expect(Object.keys(dirs).sort()).toEqual(Object.keys(FUNCTIONS).sort());
    for (const mod of modules) expect(typeof mod.handler).toBe('function');
    for (const [name, dir] of Object.entries(dirs)) {
      expect(readdirSync(dir)).toEqual(['index.mjs']);
      expect(
        readFileSync(join(dir, 'index.mjs')).equals(readFileSync(join(handlersDir(), name, 'index.mjs'))),
      ).toBe(true);
    }
  });

  it('weighs at most 1 MB per handler as deployed, with the AWS SDK left to the Lambda runtime', () => {
    // Prepare
    const { dirs } = assets(false);
    // Act
    const deployed = Object.entries(dirs).map(([name, dir]) => ({
      name,
      bytes: statSync(join(dir, 'index.mjs')).size,
    }));
    // Assess
    for (const { name, bytes } of deployed) {
      console.log(`deployed ${name}: ${bytes} bytes`);
      expect(bytes, name).toBeLessThanOrEqual(HANDLER_SIZE_LIMIT_BYTES);
    }
    expect(handlerSizes().every((s) => s.codeBytes <= HANDLER_SIZE_LIMIT_BYTES)).toBe(true);
  });

  it('uploads source maps and turns them on only when sourceMaps is set', () => {
    // Prepare / Act
    const { template, dirs } = assets(true);
    // Assess
    for (const dir of Object.values(dirs)) expect(existsSync(join(dir, 'index.mjs.map'))).toBe(true);
    for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
      if (fn.Properties.Code.ZipFile !== undefined) continue; // the inline outcome key generator
      expect(fn.Properties.Environment.Variables.NODE_OPTIONS).toBe('--enable-source-maps');
    }
  });
});
