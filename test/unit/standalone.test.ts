/**
 * The repository stands alone: no tracked file reads or links anything outside it (a sibling
 * checkout, a machine's absolute path), and every relative Markdown link lands on a file in it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..', '..');

function trackedFiles(): string[] | undefined {
  try {
    const out = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.split('\0').filter((f) => f && existsSync(join(ROOT, f)));
  } catch {
    return undefined;
  }
}

const files = trackedFiles();

/** Built from parts so that this file does not match itself. */
const OUTSIDE = [
  { name: 'a sibling checkout', pattern: new RegExp(`\\.\\./${'shared'}\\b`) },
  { name: 'the old shared spec', pattern: new RegExp(`${'shared'}/spec/`) },
  { name: 'the old shared spec, joined', pattern: new RegExp(`['"]${'shared'}['"],\\s*['"]spec['"]`) },
  { name: 'a workspace path', pattern: new RegExp(`/${'work'}/`) },
  { name: 'a home directory', pattern: new RegExp(`/(${'home'}|${'Users'}|${'root'})/[A-Za-z]`) },
  { name: 'a Windows drive path', pattern: new RegExp(`\\b[A-Z]:\\\\${'Users'}\\\\`) },
];

/**
 * Records of past benchmark runs, kept byte for byte as they were written: their `prices.source`
 * field names where the prices were read at the time (the same section D now in docs/AWS-FACTS.md).
 * Rewriting them would falsify the record; nothing reads the path they name.
 */
const EXEMPT = [/^bench\/results\/2026-11-25T(07-40-09|09-04-32|10-34-19)Z-full\.json$/];

const TEXT = /\.(ts|mts|js|mjs|cjs|json|md|ya?ml|sh|txt|xml|toml)$|^\.ci\/run$|(^|\/)\.gitignore$/;

describe.skipIf(files === undefined)('the repository stands alone', () => {
  const texts = (files ?? []).filter(
    (f) => TEXT.test(f) && f !== 'package-lock.json' && !EXEMPT.some((e) => e.test(f)),
  );

  it('no tracked file refers to a path outside the repository', () => {
    // Act
    const found: string[] = [];
    for (const file of texts) {
      const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const { name, pattern } of OUTSIDE) {
          if (pattern.test(line)) found.push(`${file}:${i + 1}: ${name}: ${line.trim().slice(0, 120)}`);
        }
      });
    }
    // Assess
    expect(texts.length).toBeGreaterThan(50);
    expect(found).toEqual([]);
  });

  it('every relative Markdown link points to a file inside the repository', () => {
    const broken: string[] = [];
    for (const file of texts.filter((f) => f.endsWith('.md'))) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^([a-z]+:|#|mailto:)/i.test(target)) continue;
        const path = resolve(ROOT, dirname(file), decodeURIComponent(target.split('#')[0] ?? ''));
        const inside = !relative(ROOT, path).startsWith('..');
        if (!inside || !existsSync(path)) broken.push(`${file}: ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the exemptions still name files that exist (drop one when its file goes)', () => {
    for (const e of EXEMPT) expect((files ?? []).some((f) => e.test(f))).toBe(true);
  });
});
