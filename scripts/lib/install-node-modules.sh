#!/usr/bin/env bash
# Installs the npm packages of the deploy/ checks (kubernetes-models, for check_kubernetes_schema.py)
# into tests/deploy/node_modules, exactly as tests/deploy/package-lock.json pins them. Idempotent: once
# installed from the current lock file it does nothing, without asking the registry.
set -euo pipefail

dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../tests/deploy" && pwd)
# npm ci removes node_modules first, so a stamp inside it means "installed from this lock file".
stamp=$dir/node_modules/.installed-from-package-lock.json
if cmp -s "$dir/package-lock.json" "$stamp"; then
  exit 0
fi
# --ignore-scripts: none of these packages needs an install script, and none should run one.
(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
cp "$dir/package-lock.json" "$stamp"
