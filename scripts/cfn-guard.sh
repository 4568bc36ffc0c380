#!/usr/bin/env bash
# Checks every documented deployment's template, and the example apps' (the list scripts/synth-variants.ts
# writes to cdk.out/variants/templates.tsv; scripts/cfn-lint.sh runs it first), with AWS CloudFormation
# Guard 3.2.1 and every rule of the AWS Guard rules registry, vendored at a pinned commit in
# scripts/guard-rules-registry/ (see its README.md).
# cfn-guard comes from crates.io: a `cfn-guard` 3.2.1 on PATH, else one installed with cargo under .cache/
# (the first install compiles it, which takes minutes).
# Fails on any rule a template fails. A deliberate finding is suppressed where the construct makes the
# resource (infra/lib/acknowledgements.ts): Metadata.guard.SuppressedRules, with Metadata.guard.Reasons.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
GUARD_VERSION="3.2.1"
RULES="$ROOT/scripts/guard-rules-registry/rules"
LIST="$ROOT/cdk.out/variants/templates.tsv"

GUARD="$(command -v cfn-guard || true)"
if [ -z "$GUARD" ] || ! "$GUARD" --version 2>/dev/null | grep -q "cfn-guard $GUARD_VERSION\$"; then
  GUARD="$ROOT/.cache/cfn-guard-$GUARD_VERSION/bin/cfn-guard"
  if ! "$GUARD" --version 2>/dev/null | grep -q "cfn-guard $GUARD_VERSION\$"; then
    if ! command -v cargo >/dev/null; then
      echo "cfn-guard $GUARD_VERSION is needed: install Rust's cargo, or cfn-guard itself (cargo install cfn-guard --version $GUARD_VERSION --locked)" >&2
      exit 1
    fi
    cargo install cfn-guard --version "$GUARD_VERSION" --locked --root "$ROOT/.cache/cfn-guard-$GUARD_VERSION"
  fi
fi
"$GUARD" --version
[ -f "$LIST" ] || { echo "no $LIST: run npx tsx scripts/synth-variants.ts first" >&2; exit 1; }

failed=0
printf '%-40s %8s %12s  %s\n' variant failing acknowledged "failed rules"
while IFS=$'\t' read -r variant template; do
  [ -n "$variant" ] || continue
  # Exit status 19 means a rule failed; the summary lines are what is judged.
  out="$("$GUARD" validate --rules "$RULES" --data "$template" --show-summary fail --output-format single-line-summary 2>&1 || true)"
  if printf '%s\n' "$out" | grep -qiE '^error|parse error'; then
    printf '%s\n' "$out" | sed 's/^/    /'
    failed=1
    continue
  fi
  rules="$(printf '%s\n' "$out" | awk '$NF == "FAIL" && $1 ~ /\.guard\// { sub(/.*\//, "", $1); print $1 }' | sort -u)"
  resources="$(printf '%s\n' "$out" | awk '/^Number of non-compliant resources/ { n += $NF } END { print n + 0 }')"
  acknowledged="$(jq '[.Resources[] | .Metadata.guard.SuppressedRules // [] | length] | add // 0' "$template")"
  printf '%-40s %8s %12s  %s\n' "$variant" "$resources" "$acknowledged" "$(printf '%s' "$rules" | tr '\n' ' ')"
  if [ -n "$rules" ]; then
    printf '%s\n' "$out" | grep -E 'Resource = |Violation:' | sed 's/^ */    /'
    failed=1
  fi
done <"$LIST"

if [ "$failed" -ne 0 ]; then
  echo "cfn-guard: FAILED (fix the resource, or suppress the rule where the construct makes it, with its reason)"
  exit 1
fi
echo "cfn-guard: every template passes the Guard rules registry; each suppression carries its reason"
