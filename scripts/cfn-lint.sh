#!/usr/bin/env bash
# Lints every documented deployment's template with cfn-lint 1.58 and the serverless rules
# (cfn-lint-serverless), installed from PyPI into a virtual environment under .cache/.
# Fails on: a variant or example app that does not synthesize cleanly (scripts/synth-variants.ts:
# errors, CDK's CloudFormation validation, cdk-nag's AWS Solutions and NIST 800-53 rev 5 packs,
# unexpected synth warnings), any cfn-lint error, any cfn-lint warning whose rule id docs/deploy.md
# does not explain ("Synth and lint warnings"), and any failure of the AWS CloudFormation Guard rules
# registry (scripts/cfn-guard.sh, run on the same templates).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.cache/cfn-lint-venv"
CFN_LINT_VERSION="1.58"

if ! "$VENV/bin/cfn-lint" --version 2>/dev/null | grep -q "cfn-lint $CFN_LINT_VERSION\."; then
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION.*" cfn-lint-serverless
fi
"$VENV/bin/cfn-lint" --version

# The handlers the templates reference (dist/handlers), fresh from the sources.
npx tsx scripts/build.ts handlers >/dev/null
npx tsx scripts/synth-variants.ts

DOC="$ROOT/docs/deploy.md"
failed=0
printf '%-40s %6s %8s  %s\n' variant errors warnings rules
while IFS=$'\t' read -r variant template; do
  [ -n "$variant" ] || continue
  # Exit status is a bit mask of the levels found; the parseable output is what is judged.
  out="$("$VENV/bin/cfn-lint" --format parseable --append-rules cfn_lint_serverless.rules -- "$template" || true)"
  rules="$(printf '%s\n' "$out" | awk -F: 'NF >= 7 { print $6 }')"
  errors="$(printf '%s\n' "$rules" | grep -cE '^E' || true)"
  warnings="$(printf '%s\n' "$rules" | grep -cE '^W' || true)"
  printf '%-40s %6s %8s  %s\n' "$variant" "$errors" "$warnings" "$(printf '%s\n' "$rules" | sort | uniq -c | awk '{ printf "%s×%s ", $2, $1 }')"
  if [ "$errors" -gt 0 ]; then
    printf '%s\n' "$out" | grep -E ':E[A-Z0-9]+:' | sed 's/^/    /'
    failed=1
  fi
  for rule in $(printf '%s\n' "$rules" | grep -E '^W' | sort -u); do
    if ! grep -q "\`$rule\`" "$DOC"; then
      echo "    warning $rule is not explained in docs/deploy.md:"
      printf '%s\n' "$out" | grep ":$rule:" | sed 's/^/      /'
      failed=1
    fi
  done
done <"$ROOT/cdk.out/variants/templates.tsv"

if [ "$failed" -ne 0 ]; then
  echo "cfn-lint: FAILED"
else
  echo "cfn-lint: no errors; every warning is explained in docs/deploy.md"
fi

# The same templates against the AWS CloudFormation Guard rules registry.
"$ROOT/scripts/cfn-guard.sh" || failed=1
[ "$failed" -eq 0 ] || exit 1
