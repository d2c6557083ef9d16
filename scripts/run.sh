#!/usr/bin/env bash
# The main job: install, create or upgrade the database, sync flows, run the scheduler daemon.
# Configuration comes from the environment or a .env file (see README); SQLite by default.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh -r requirements.txt

.venv/bin/python -m automagik.cli.cli db init
# A sync needs LangFlow; without it the daemon still runs what is already scheduled.
.venv/bin/python -m automagik.cli.cli flows sync --no-input || echo "(flows not synced: the daemon starts anyway)"
exec .venv/bin/python scheduler_daemon.py "$@"
