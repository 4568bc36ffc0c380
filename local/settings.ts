/** Settings of the local services (npm start, tests, benchmarks): ports, region, broker version. */

/** Partitions created locally and recommended in the README. */
export const LOCAL_TOPIC_PARTITIONS = 6;

/** Local development defaults (README walkthrough uses these). */
export const LOCAL = {
  kafkaPort: 9092,
  dynamodbPort: 8000,
  region: 'us-east-1',
  kafkaVersion: '4.4.0',
} as const;

/**
 * How `npm start`'s lines about itself begin: the one line that says it accepts input, and each
 * line that says it failed or a service ended (README, "Quick start"). No other line begins so.
 */
export const START_LINES = { ready: 'ready: ', error: 'error: ' } as const;
