/**
 * The CDK app: `npx cdk synth` / `npx cdk deploy`, configured by context
 * (docs/deploy.md). With no context it synthesizes an example MSK deployment,
 * offline and without credentials.
 */
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks, NIST80053R5Checks } from 'cdk-nag';
import { CollectorStack } from '../lib/collector-stack.ts';
import { stackPropsFromContext } from '../lib/context.ts';

const app = new App();
const { stackName, props, usedExamples } = stackPropsFromContext((key) => app.node.tryGetContext(key));
if (usedExamples) {
  console.error(
    `No Kafka context given: synthesizing the ${props.kafka} example (see docs/deploy.md to target your cluster).`,
  );
}
new CollectorStack(app, stackName, props);
Validations.of(app).addPlugins(new AwsSolutionsChecks(app), new NIST80053R5Checks(app));
