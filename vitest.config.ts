import { defineConfig } from 'vitest/config';

/** Scenarios that take minutes: their own command (`npm run test:long`), not `npm test`. */
/** The README walkthrough against `npm start` (its own services): `npm run test:readme`, run by CI. */
const README = ['test/integration/readme-walkthrough.test.ts'];

/**
 * Every documented variant and example app synthesized, and the handler bundles inspected: run by CI
 * after `npm test` (`npm run test:templates`), which keeps the construct's own assertions.
 */
const TEMPLATES = [
  'test/infra/documented-variants.test.ts',
  'test/infra/examples.test.ts',
  'test/infra/bundling.test.ts',
];

const LONG = [
  'test/integration/faults.test.ts',
  'test/integration/soak.test.ts',
  'test/integration/bench-smoke.test.ts',
  'test/integration/schedules-long.test.ts',
];

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
          // Pure modules: loaded once for all files (no per-file module graph to build again).
          isolate: false,
          // Property tests run thousands of cases: on a loaded 2-core machine one takes seconds. A hang
          // guard only; no test asserts speed.
          testTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'infra',
          include: ['test/infra/**/*.test.ts'],
          exclude: TEMPLATES,
          // aws-cdk-lib is loaded once for all files (each file builds its own App).
          isolate: false,
          // The construct loads the pre-bundled handlers (dist/handlers): built once, fresh, before the tests.
          globalSetup: ['test/infra/global-setup.ts'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          exclude: [...LONG, ...README],
          // One real Kafka broker and one DynamoDB Local serve the whole run; the files share one module
          // graph (each starts its own runtimes, topics and tables: nothing is kept between files).
          isolate: false,
          globalSetup: ['test/helpers/global-setup.ts'],
          // Generous: DynamoDB Local's TTL sweep is slow under load; no test asserts speed.
          testTimeout: 240_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'templates',
          include: TEMPLATES,
          globalSetup: ['test/infra/global-setup.ts'],
          isolate: false,
          testTimeout: 120_000,
        },
      },
      {
        // Starts `npm start` itself (three times): outside `npm test`'s budget, run by CI after it.
        test: {
          name: 'readme',
          include: README,
          testTimeout: 600_000,
          hookTimeout: 300_000,
        },
      },
      {
        // Secured clients (TLS, SASL/SCRAM, ACLs) against a broker of their own that requires them:
        // `npm run test:secured`, run by CI after `npm test`, outside its 4-minute budget (the broker's
        // certificate, storage and start are four JVMs: about 20 s of CPU in all).
        test: {
          name: 'secured',
          include: ['test/secured/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 240_000,
        },
      },
      {
        // Minutes-long scenarios (fault injection, the soak, the benchmark smoke run): `npm run test:long`,
        // outside `npm test` and its 4-minute budget (run before a release; CI does not run it).
        test: {
          name: 'long',
          include: LONG,
          globalSetup: ['test/helpers/global-setup.ts'],
          testTimeout: 600_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
