#!/usr/bin/env bash
# The package as a user gets it, `npm pack`ed and installed into two apps:
#
# 1. An ES module app with only aws-cdk-lib and constructs beside it: under plain `node` (no tsx, no
#    esbuild, no Docker, no lock file of ours) import the client and synthesize a stack with the
#    construct; typecheck a consumer against the shipped .d.ts (with this repository's TypeScript).
# 2. The CommonJS app that `cdk init app --language typescript` generates, made by CDK's own CLI (the
#    aws-cdk version in our devDependencies) and left as generated (package.json, tsconfig.json,
#    cdk.json): its stack file uses the construct and `cdk synth` (the template's tsc, then tsx)
#    synthesizes it. Plain `require` loads the construct, the client and inspectGroup there, and a
#    `require` and an `import` of the client give the same classes (one copy of the package).
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

mkdir "$SCRATCH/esm-app"
cd "$SCRATCH/esm-app"
cat >package.json <<'JSON'
{ "name": "pack-smoke", "version": "1.0.0", "private": true, "type": "module" }
JSON
npm install --no-audit --no-fund --prefer-offline --loglevel=error \
  "../$TARBALL" "aws-cdk-lib@$CDK_VERSION" "constructs@$CONSTRUCTS_VERSION"
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
// The three handlers (pre-bundled assets), and the outcome key generator (inline code, a custom resource).
const functions = Object.values(template.findResources('AWS::Lambda::Function'));
const bundled = functions.filter((fn) => fn.Properties.Code.ZipFile === undefined);
check(bundled.length === 3, 'three functions');
check(functions.length === 4, 'and the outcome key generator');
check(count('AWS::Lambda::EventSourceMapping') === 2, 'both event source mappings (Kafka, DynamoDB stream)');
check(count('AWS::DynamoDB::Table') === 1, 'the table');
check(collector.consumerGroupId.startsWith('group-collector-111122223333-eu-west-1-Smoke-'), 'a per-deployment consumer group id');
for (const fn of bundled) {
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
./node_modules/.bin/group-collector --version
echo "ok: the group-collector bin runs"

# 2. The unmodified `cdk init app --language typescript` app (CommonJS: no "type" in its package.json).
APP=cdk-init-app
mkdir "$SCRATCH/$APP"
cd "$SCRATCH/$APP"
export CDK_DISABLE_CLI_TELEMETRY=true
"$ROOT/node_modules/.bin/cdk" init app --language typescript --generate-only --no-notices >/dev/null
if node -e 'process.exit(require("./package.json").type === "module" ? 0 : 1)'; then
  echo "FAIL: cdk init generated an ES module app; this check is about the CommonJS one"; exit 1
fi
echo "generated by cdk init: $(node -p 'const p = require("./package.json"); `typescript ${p.devDependencies.typescript}, aws-cdk ${p.devDependencies["aws-cdk"]}, app: ${require("./cdk.json").app}`')"
npm install --no-audit --no-fund --prefer-offline --loglevel=error
npm install --no-audit --no-fund --prefer-offline --loglevel=error "../$TARBALL"
# The stack file is the user's code: the generated one with the construct in it.
cat >"lib/$APP-stack.ts" <<'TS'
import * as cdk from 'aws-cdk-lib/core';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { GroupCollector } from 'eventbus-group-collector';

export class CdkInitAppStack extends cdk.Stack {
  constructor(scope: Construct, id: string, props?: cdk.StackProps) {
    super(scope, id, props);
    new GroupCollector(this, 'Collector', {
      kafka: {
        kind: 'self-managed',
        bootstrapServers: ['kafka-1.example.com:9096'],
        auth: 'scram-sha-512',
        secret: secretsmanager.Secret.fromSecretNameV2(this, 'KafkaSecret', 'eventbus/collector-kafka'),
      },
    });
  }
}
TS
./node_modules/.bin/cdk synth --quiet --no-notices >/dev/null
node -e '
  const t = require("./cdk.out/CdkInitAppStack.template.json");
  const n = (type) => Object.values(t.Resources).filter((r) => r.Type === type).length;
  // The three handlers and the outcome key generator (a custom resource).
  if (n("AWS::Lambda::Function") !== 4 || n("AWS::DynamoDB::Table") !== 1) throw new Error("FAIL: cdk init app template");
'
echo "ok: the cdk init app (CommonJS, its own tsc and tsx) synthesizes the construct"

node -e "require('eventbus-group-collector/client')"
node -e '
  const { GroupCollector } = require("eventbus-group-collector");
  const client = require("eventbus-group-collector/client");
  const { inspectGroup } = require("eventbus-group-collector/inspect");
  if (typeof GroupCollector !== "function" || typeof inspectGroup !== "function") throw new Error("FAIL: require");
  import("eventbus-group-collector/client").then((esm) => {
    if (esm.ValidationError !== client.ValidationError || esm.GroupCollectorClient !== client.GroupCollectorClient) {
      throw new Error("FAIL: require and import load two copies of the client");
    }
  });
'
echo "ok: require loads the construct, the client and inspectGroup: the same classes as import"
echo "pack-smoke: passed"
