#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, install the tarball into an empty app with only
# aws-cdk-lib and constructs beside it, then under plain `node` (no tsx, no esbuild, no Docker, no
# lock file of ours) import the client and synthesize a stack with the construct. Also typechecks a
# consumer against the shipped .d.ts (with this repository's TypeScript, not installed in the app).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SCRATCH="$(mktemp -d)"
trap 'rm -rf "$SCRATCH"' EXIT
cd "$ROOT"

CDK_VERSION="$(node -p "require('./node_modules/aws-cdk-lib/package.json').version")"
CONSTRUCTS_VERSION="$(node -p "require('./node_modules/constructs/package.json').version")"
# prepack runs npm run build: dist/ is rebuilt from the sources.
TARBALL="$(npm pack --silent --pack-destination "$SCRATCH" | tail -n 1)"
echo "packed $TARBALL ($(wc -c <"$SCRATCH/$TARBALL") bytes)"
tar -tzf "$SCRATCH/$TARBALL" | sed 's/^/  /'

cd "$SCRATCH"
cat >package.json <<'JSON'
{ "name": "pack-smoke", "version": "1.0.0", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "./$TARBALL" "aws-cdk-lib@$CDK_VERSION" "constructs@$CONSTRUCTS_VERSION"
for tool in esbuild tsx typescript; do
  if [ -e "node_modules/$tool" ]; then echo "FAIL: $tool was installed with the package"; exit 1; fi
done

cat >smoke.mjs <<'JS'
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { GroupCollector, HANDLER_SIZE_LIMIT_BYTES } from 'eventbus-group-collector';
import { GroupCollectorClient, parseOutcome, ValidationError } from 'eventbus-group-collector/client';
import { formatInspection, inspectGroup } from 'eventbus-group-collector/inspect';

const check = (ok, what) => {
  if (!ok) throw new Error(`FAIL: ${what}`);
  console.log(`ok: ${what}`);
};

check(typeof GroupCollectorClient === 'function', 'the client imports under plain node');
check(typeof parseOutcome === 'function' && typeof ValidationError === 'function', 'its helpers and errors too');
check(typeof inspectGroup === 'function' && typeof formatInspection === 'function', 'inspectGroup imports under plain node');

const app = new App({ outdir: 'cdk.out' });
const stack = new Stack(app, 'Smoke', { env: { account: '111122223333', region: 'eu-west-1' } });
const collector = new GroupCollector(stack, 'Collector', {
  kafka: {
    kind: 'self-managed',
    bootstrapServers: ['kafka-1.example.com:9096'],
    auth: 'scram-sha-512',
    secret: secretsmanager.Secret.fromSecretCompleteArn(
      stack,
      'Secret',
      'arn:aws:secretsmanager:eu-west-1:111122223333:secret:eventbus/collector-kafka-AbCdEf',
    ),
  },
});
const assembly = app.synth();
const template = Template.fromStack(stack);
const count = (type) => Object.keys(template.findResources(type)).length;
check(count('AWS::Lambda::Function') === 3, 'three functions');
check(count('AWS::Lambda::EventSourceMapping') === 2, 'both event source mappings (Kafka, DynamoDB stream)');
check(count('AWS::DynamoDB::Table') === 1, 'the table');
check(collector.consumerGroupId.startsWith('group-collector-111122223333-eu-west-1-Smoke-'), 'a per-deployment consumer group id');
for (const fn of Object.values(template.findResources('AWS::Lambda::Function'))) {
  const dir = join(assembly.directory, `asset.${fn.Properties.Code.S3Key.replace(/\.zip$/, '')}`);
  const bytes = statSync(join(dir, 'index.mjs')).size;
  check(bytes <= HANDLER_SIZE_LIMIT_BYTES && !existsSync(join(dir, 'index.mjs.map')),
    `${fn.Properties.Description}: pre-bundled asset of ${bytes} bytes, no source map`);
}
JS
node smoke.mjs

cat >consumer.ts <<'TS'
import { App, Stack } from 'aws-cdk-lib';
import { GroupCollector, type GroupCollectorProps } from 'eventbus-group-collector';
import { GroupCollectorClient, type Outcome } from 'eventbus-group-collector/client';

const props: GroupCollectorProps = {
  kafka: { kind: 'self-managed', bootstrapServers: ['k:9092'], auth: 'none' },
  removalPolicy: undefined,
  legacyConsumerGroupId: true,
};
export const collector = new GroupCollector(new Stack(new App(), 'S'), 'C', props);
export async function wait(client: GroupCollectorClient, id: string): Promise<Outcome> {
  return client.awaitOutcome(id, { timeoutMs: 1_000 });
}
TS
cat >tsconfig.json <<'JSON'
{ "compilerOptions": { "strict": true, "module": "NodeNext", "moduleResolution": "NodeNext", "target": "ES2022", "noEmit": true, "skipLibCheck": true, "types": [] }, "files": ["consumer.ts"] }
JSON
"$ROOT/node_modules/.bin/tsc" -p tsconfig.json
echo "ok: a TypeScript consumer typechecks against the shipped declarations"

./node_modules/.bin/group-collector --help >/dev/null
./node_modules/.bin/group-collector produce --help | sed -n 1p
echo "ok: the group-collector bin runs"
echo "pack-smoke: passed"
