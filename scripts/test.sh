#!/usr/bin/env bash
# Install what the tests need (Python packages, PostgreSQL, Chromium, faketime, a real LangFlow) and run
# the whole suite. The suite starts its own throwaway PostgreSQL, LangFlow test server and real LangFlow
# and stops them after.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh tests/scheduling -x`.
set -euo pipefail
cd "$(dirname "$0")/.."
# The suite also runs every benchmark at a tiny size, so the bench requirements (which
# include the test requirements) are installed too.
source scripts/setup.sh -r requirements-bench.txt

missing=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# The browser test drives Debian's Chromium (Playwright's own browser download is not used).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# The clock-step fault tests preload libfaketime into daemon processes.
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || missing+=(faketime)
if [ ${#missing[@]} -gt 0 ]; then
  echo "Installing Debian packages for the tests: ${missing[*]}..."
  apt_install "${missing[@]}"
fi

# tests/real_langflow/ runs against a real LangFlow, installed by uv into its own cached virtualenv
# (outside .venv; about a minute the first time, then reused). If that is impossible (no network...),
# those tests are skipped and pytest's output says why.
if ! langflow_problem=$(.venv/bin/python -m tests.real_langflow.install); then
  export AUTOMAGIK_LANGFLOW_UNAVAILABLE="${langflow_problem:-the LangFlow install failed (see its error above)}"
  echo "warning: $AUTOMAGIK_LANGFLOW_UNAVAILABLE" >&2
fi

# Lint, format and types first (settings in pyproject.toml): a slip fails in seconds, not after the suite.
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy

# The slowest 10 tests and pytest's own time come last in its output, then this script's total
# (installs and the LangFlow check included): a suite that slows down shows it in every run.
status=0
.venv/bin/python -m pytest --durations=10 "$@" || status=$?
echo "scripts/test.sh: ${SECONDS}s in all (exit ${status})"
exit "$status"
