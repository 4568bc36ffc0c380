import { FilterPatternError } from './errors.ts';

/**
 * Lambda's event filtering, as event source mappings apply it before invoking:
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html
 *
 * - A pattern is an object; its keys are AND-ed, nested objects match nested
 *   fields, and each leaf is an array of rules that are OR-ed.
 * - Rules: exact values (strings, numbers, booleans, `null`), and the objects
 *   `{prefix}`, `{suffix}`, `{"equals-ignore-case"}`, `{"anything-but"}`
 *   (a value, a list, or `{prefix}` / `{suffix}`), `{numeric: [op, n, ...]}`
 *   and `{exists: boolean}`.
 * - When the event holds an array at a leaf, the leaf matches if any element does.
 * - Several patterns (the mapping's `Filters`) are OR-ed; no patterns = everything matches.
 *
 * Pure: no I/O. Unsupported operators (cidr, wildcard) are rejected rather than
 * silently matching.
 */
export type FilterPattern = Readonly<Record<string, unknown>>;

const MISSING = Symbol('missing');
type Value = unknown | typeof MISSING;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** True when the event matches at least one pattern (or when there are none). */
export function matchesAnyFilter(event: unknown, patterns: readonly FilterPattern[] | undefined): boolean {
  if (!patterns || patterns.length === 0) return true;
  return patterns.some((pattern) => matchesPattern(event, pattern));
}

/** True when the event matches this one pattern. Throws FilterPatternError for an invalid pattern. */
export function matchesPattern(event: unknown, pattern: FilterPattern): boolean {
  validatePattern(pattern);
  return matchObject(event, pattern);
}

/** Throws FilterPatternError when Lambda would refuse the pattern. */
export function validatePattern(pattern: unknown, path = ''): void {
  if (!isPlainObject(pattern)) throw new FilterPatternError(`pattern${path} must be an object`);
  for (const [key, sub] of Object.entries(pattern)) {
    const where = `${path}.${key}`;
    if (Array.isArray(sub)) {
      if (sub.length === 0) throw new FilterPatternError(`pattern${where} has an empty list of rules`);
      for (const rule of sub) validateRule(rule, where);
    } else if (isPlainObject(sub)) {
      validatePattern(sub, where);
    } else {
      throw new FilterPatternError(`pattern${where} must be a list of rules or a nested object`);
    }
  }
}

function validateRule(rule: unknown, where: string): void {
  if (rule === null || ['string', 'number', 'boolean'].includes(typeof rule)) return;
  if (!isPlainObject(rule))
    throw new FilterPatternError(`rule at ${where} must be a value or an operator object`);
  const keys = Object.keys(rule);
  if (keys.length !== 1) throw new FilterPatternError(`rule at ${where} must have exactly one operator`);
  const [op] = keys as [string];
  const arg = rule[op];
  switch (op) {
    case 'prefix':
    case 'suffix':
    case 'equals-ignore-case':
      if (typeof arg !== 'string') throw new FilterPatternError(`${op} at ${where} takes a string`);
      return;
    case 'exists':
      if (typeof arg !== 'boolean') throw new FilterPatternError(`exists at ${where} takes true or false`);
      return;
    case 'anything-but':
      if (isPlainObject(arg)) {
        const inner = Object.keys(arg);
        if (inner.length !== 1 || !['prefix', 'suffix'].includes(inner[0] as string)) {
          throw new FilterPatternError(
            `anything-but at ${where} takes a value, a list, {prefix} or {suffix}`,
          );
        }
        return;
      }
      if (Array.isArray(arg) ? arg.length === 0 : !['string', 'number'].includes(typeof arg)) {
        throw new FilterPatternError(`anything-but at ${where} takes a value, a list, {prefix} or {suffix}`);
      }
      return;
    case 'numeric':
      parseNumeric(arg, where);
      return;
    default:
      throw new FilterPatternError(`operator "${op}" at ${where} is not supported by the local emulator`);
  }
}

const COMPARATORS = ['=', '<', '<=', '>', '>='] as const;
type Comparator = (typeof COMPARATORS)[number];

function parseNumeric(arg: unknown, where: string): [Comparator, number][] {
  if (!Array.isArray(arg) || arg.length === 0 || arg.length % 2 !== 0 || arg.length > 4) {
    throw new FilterPatternError(`numeric at ${where} takes one or two [operator, number] pairs`);
  }
  const pairs: [Comparator, number][] = [];
  for (let i = 0; i < arg.length; i += 2) {
    const op = arg[i];
    const n = arg[i + 1];
    if (!COMPARATORS.includes(op as Comparator) || typeof n !== 'number' || !Number.isFinite(n)) {
      throw new FilterPatternError(`numeric at ${where}: "${String(op)}" ${String(n)} is not a comparison`);
    }
    pairs.push([op as Comparator, n]);
  }
  return pairs;
}

function matchObject(value: Value, pattern: Record<string, unknown>): boolean {
  for (const [key, sub] of Object.entries(pattern)) {
    const field: Value = isPlainObject(value) && Object.hasOwn(value, key) ? value[key] : MISSING;
    const ok = Array.isArray(sub)
      ? matchLeaf(field, sub)
      : matchObject(field, sub as Record<string, unknown>);
    if (!ok) return false;
  }
  return true;
}

function matchLeaf(field: Value, rules: readonly unknown[]): boolean {
  return rules.some((rule) => {
    if (isPlainObject(rule) && 'exists' in rule) {
      // Exists matches leaves only: a present scalar (or array of them), not an object.
      const present = field !== MISSING && !isPlainObject(field);
      return rule.exists === present;
    }
    if (field === MISSING) return false;
    if (Array.isArray(field)) return field.some((element) => matchRule(element, rule));
    return matchRule(field, rule);
  });
}

function matchRule(value: unknown, rule: unknown): boolean {
  if (!isPlainObject(rule)) return value === rule;
  const [op] = Object.keys(rule) as [string];
  const arg = rule[op];
  switch (op) {
    case 'prefix':
      return typeof value === 'string' && value.startsWith(arg as string);
    case 'suffix':
      return typeof value === 'string' && value.endsWith(arg as string);
    case 'equals-ignore-case':
      return typeof value === 'string' && value.toLowerCase() === (arg as string).toLowerCase();
    case 'anything-but': {
      if (isPlainObject(arg)) {
        if (typeof value !== 'string') return false;
        if ('prefix' in arg) return !value.startsWith(arg.prefix as string);
        return !value.endsWith(arg.suffix as string);
      }
      const excluded = Array.isArray(arg) ? arg : [arg];
      return value !== null && !excluded.includes(value);
    }
    case 'numeric':
      return typeof value === 'number' && parseNumeric(arg, '').every(([cmp, n]) => compare(value, cmp, n));
    default:
      return false;
  }
}

function compare(value: number, cmp: Comparator, n: number): boolean {
  switch (cmp) {
    case '=':
      return value === n;
    case '<':
      return value < n;
    case '<=':
      return value <= n;
    case '>':
      return value > n;
    case '>=':
      return value >= n;
  }
}
