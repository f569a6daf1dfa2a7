#!/usr/bin/env bash
# Mutation testing of the pure modules against the unit tests (issue 14).
# Usage: tests/mutation/run.sh [--only sessionizer|wire-codec|events|stream-keys|plain-clicks|ratelimit] [--list] [--index N]
# No extra dependency: the runner (tests/mutation/mutate.py) uses ast + pytest only.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python -m tests.mutation.mutate "$@"
