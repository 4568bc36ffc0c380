#!/usr/bin/env bash
# Runs a service and ties its life to a parent process: when the parent dies,
# even by SIGKILL, the service is stopped. This is how a test run that is
# interrupted still leaves no JVM behind.
#   watchdog.sh <parent-pid> <command> [args...]
parent="$1"; shift
"$@" &
child=$!
stop() { kill -TERM "$child" 2>/dev/null; for _ in $(seq 1 100); do kill -0 "$child" 2>/dev/null || exit 0; sleep 0.1; done; kill -KILL "$child" 2>/dev/null; exit 0; }
trap stop TERM INT HUP
while kill -0 "$parent" 2>/dev/null && kill -0 "$child" 2>/dev/null; do sleep 0.5 & wait $!; done
if kill -0 "$child" 2>/dev/null; then stop; fi
wait "$child"
