#!/usr/bin/env bash
# `npm test`: the integration tests (one real broker and DynamoDB Local, their files one after
# another: mostly waiting on those services) run beside the unit and infrastructure tests (pure
# CPU: the construct's synths) and the typecheck and Biome, on the machine's other core; their
# output is printed once they end. Any of the four failing fails the run. Arguments go to both
# vitest runs (a file filter that matches none of one run's files passes there).
set -uo pipefail
cd "$(dirname "$0")/.."
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
npx tsc --noEmit >"$out/typecheck" 2>&1 &
typecheck=$!
npx biome check . >"$out/lint" 2>&1 &
lint=$!
npx vitest run --project unit --project infra --passWithNoTests "$@" >"$out/fast" 2>&1 &
fast=$!
npx vitest run --project integration --passWithNoTests "$@"
tests=$?
wait "$fast"
f=$?
wait "$typecheck"
t=$?
wait "$lint"
l=$?
echo "unit and infrastructure tests:"
cat "$out/fast"
if [ "$t" -eq 0 ]; then echo "typecheck: passed"; else echo "typecheck: FAILED"; cat "$out/typecheck"; fi
if [ "$l" -eq 0 ]; then echo "Biome: passed"; else echo "Biome: FAILED"; cat "$out/lint"; fi
if [ "$f" -ne 0 ]; then echo "unit and infrastructure tests: FAILED (above)"; fi
[ "$tests" -eq 0 ] && [ "$f" -eq 0 ] && [ "$t" -eq 0 ] && [ "$l" -eq 0 ]
