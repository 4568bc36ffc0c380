import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/** What a held DynamoDB call looks like to a rule: its command name and its (document) input. */
export type CallMatch = (command: string, input: Record<string, unknown>) => boolean;

export interface Hold {
  /** Resolves when the matching call is held (before it is sent, or after its reply came back). */
  reached: Promise<void>;
  /** Lets the held call go on. */
  release(): void;
}

/**
 * Targeted interleavings on the real DynamoDB Local: `hold(when, match)` holds the next call that
 * matches, before it is sent or after its reply, until released. Each hold catches one call; an
 * operation may meet several holds in order. `fail(match)` makes the next matching call throw a
 * transient fault before it is sent (`applied: true`: after it was applied, as a lost reply).
 */
export function pauses(doc: DynamoDBDocumentClient) {
  type Rule = {
    when: 'before' | 'after';
    match: CallMatch;
    hold: Hold;
    resolveReached(): void;
    gate: Promise<void>;
  };
  const rules: Rule[] = [];
  const faults: { match: CallMatch; applied: boolean }[] = [];
  const take = (when: 'before' | 'after', command: string, input: Record<string, unknown>) => {
    const i = rules.findIndex((r) => r.when === when && r.match(command, input));
    if (i < 0) return undefined;
    const [rule] = rules.splice(i, 1);
    return rule;
  };
  doc.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName);
      const input = args.input as Record<string, unknown>;
      const fi = faults.findIndex((f) => f.match(command, input));
      const fault = fi < 0 ? undefined : faults.splice(fi, 1)[0];
      if (fault && !fault.applied)
        throw Object.assign(new Error('injected transient fault'), { $retryable: {} });
      const before = take('before', command, input);
      if (before) {
        before.resolveReached();
        await before.gate;
      }
      const settled = await next(args).then(
        (out) => ({ out }),
        (error: unknown) => ({ error }),
      );
      if (fault?.applied) throw Object.assign(new Error('injected lost reply'), { $retryable: {} });
      const after = take('after', command, input);
      if (after) {
        after.resolveReached();
        await after.gate;
      }
      if ('error' in settled) throw settled.error;
      return settled.out;
    },
    { step: 'initialize', name: 'testPauses' },
  );
  return {
    hold(when: 'before' | 'after', match: CallMatch): Hold {
      let resolveReached = () => {};
      let release = () => {};
      const reached = new Promise<void>((r) => {
        resolveReached = r;
      });
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const hold = { reached, release };
      rules.push({ when, match, hold, resolveReached, gate });
      return hold;
    },
    fail(match: CallMatch, applied = false): void {
      faults.push({ match, applied });
    },
  };
}

const skOf = (input: Record<string, unknown>) => (input.Key as { sk?: string } | undefined)?.sk;

/** Call matchers for the collector's writes. */
export const calls = {
  /** The Create's write of its STATE (a small group's one write, a larger group's transaction). */
  createWrite: (command: string, input: Record<string, unknown>) =>
    (command === 'PutItemCommand' && (input.Item as { sk?: string } | undefined)?.sk === 'STATE') ||
    (command === 'UpdateItemCommand' &&
      skOf(input) === 'STATE' &&
      String(input.ConditionExpression) === 'attribute_not_exists(#st)' &&
      String(input.UpdateExpression).startsWith('SET #a0')) ||
    (command === 'TransactWriteItemsCommand' &&
      ((input.TransactItems as { Put?: { Item?: { sk?: string } } }[])[0]?.Put?.Item?.sk ?? '') === 'DEF'),
  /** Any call on a group's STATE (a read, a report's write). */
  stateCall: (command: string, input: Record<string, unknown>) =>
    (command === 'GetItemCommand' || command === 'UpdateItemCommand') && skOf(input) === 'STATE',
  /** A read of a group's STATE. */
  stateRead: (command: string, input: Record<string, unknown>) =>
    command === 'GetItemCommand' && skOf(input) === 'STATE',
  /** An update of STATE that moves its deadline (an Extend). */
  deadlineMove: (command: string, input: Record<string, unknown>) =>
    command === 'UpdateItemCommand' &&
    skOf(input) === 'STATE' &&
    String(input.UpdateExpression).includes('deadlineMs = :new'),
  /** A delete of an early item (after its dead letter, or once applied). */
  earlyDelete: (command: string, input: Record<string, unknown>) =>
    command === 'DeleteItemCommand' && String(input.ConditionExpression ?? '').includes('#early'),
};
