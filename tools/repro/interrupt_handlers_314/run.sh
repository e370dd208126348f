#!/usr/bin/env bash
# Run the reproducer on both Pyodide releases of the repository's node_modules, with Python's own SIGINT handler and
# with the workaround: tools/repro/interrupt_handlers_314/run.sh (from anywhere; needs `npm ci` done at the root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
for package in pyodide pyodide-0.29; do
  for handler in ${HANDLERS:-default deferred}; do
    node "$here/run.mjs" "$root/node_modules/$package" "$handler"
  done
done
