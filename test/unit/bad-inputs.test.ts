/**
 * The bad-input corpus (test/fixtures/bad-inputs.ts) against the decoder alone: every case whose
 * reason the decoder can tell gets exactly that reason (or is ignored), so a wrong expectation in
 * the corpus shows here in milliseconds rather than in the integration run.
 */
import { describe, expect, it } from 'vitest';
import { DeadLetterError, type DeadLetterReason, DLQ_REASONS } from '#core/errors.ts';
import { decodeValue } from '#core/events.ts';
import { LIMITS } from '#shared/config.ts';
import { badInputs, bind } from '../fixtures/bad-inputs.ts';

/** Reasons only the service can give: they need the table (the group, its members, its age). */
const serviceOnly: DeadLetterReason[] = [
  DLQ_REASONS.memberNotExpected,
  DLQ_REASONS.createConflict,
  DLQ_REASONS.groupNeverCreated,
];

describe('the bad-input corpus, decoded', () => {
  it('every case the decoder can judge gets its expected reason, or is ignored as an outcome', () => {
    // Prepare
    const cases = badInputs().filter((c) => !('dead' in c.expect && serviceOnly.includes(c.expect.dead)));

    // Act
    const got = cases.map((c) => {
      try {
        const decoded = decodeValue(bind(c.value, 'group-1', 'never-1'), {
          maxTtlSeconds: LIMITS.maxTtlSeconds,
        });
        return {
          name: c.name,
          got: decoded.kind === 'ignored' ? { ignored: decoded.reason } : { decoded: decoded.kind },
        };
      } catch (error) {
        if (!(error instanceof DeadLetterError)) throw error;
        return { name: c.name, got: { dead: error.reason } };
      }
    });

    // Assess
    expect(got).toEqual(cases.map((c) => ({ name: c.name, got: c.expect })));
    expect(cases.length).toBeGreaterThan(200);
  });
});
