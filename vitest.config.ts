import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Two cores and one shared broker and DynamoDB Local: test files run one after another.
    fileParallelism: false,
    // CloudWatch EMF lines would only clutter the test output.
    env: { POWERTOOLS_METRICS_DISABLED: 'true' },
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          // One real Kafka broker and one DynamoDB Local serve the whole run.
          globalSetup: ['test/helpers/global-setup.ts'],
          // Generous: DynamoDB Local's TTL sweep is slow under load; no test asserts speed.
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
