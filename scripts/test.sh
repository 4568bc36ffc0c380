#!/usr/bin/env bash
# `npm test`: the typecheck and Biome run on the second core while vitest runs the tests (vitest runs
# its files one after another, and they share nothing with it); any of the three failing fails the run.
set -uo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx tsc --noEmit >"$out/typecheck" 2>&1 &
typecheck=$!
npx biome check . >"$out/lint" 2>&1 &
lint=$!
npx vitest run --project unit --project infra --project integration "$@"
tests=$?
wait "$typecheck"
t=$?
wait "$lint"
l=$?
if [ "$t" -eq 0 ]; then echo "typecheck: passed"; else echo "typecheck: FAILED"; cat "$out/typecheck"; fi
if [ "$l" -eq 0 ]; then echo "Biome: passed"; else echo "Biome: FAILED"; cat "$out/lint"; fi
[ "$tests" -eq 0 ] && [ "$t" -eq 0 ] && [ "$l" -eq 0 ]
