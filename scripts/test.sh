#!/usr/bin/env bash
# Install what the tests need (Python packages, PostgreSQL) and run the whole suite.
# The suite starts its own throwaway PostgreSQL and LangFlow test server and stops them after.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/scheduling -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh -r requirements-test.txt

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  echo "Installing PostgreSQL (Debian package postgresql) for the tests..."
  apt_install postgresql
fi

exec .venv/bin/python -m pytest "$@"
