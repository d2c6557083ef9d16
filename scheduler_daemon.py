"""Run the Automagik scheduler daemon: `python scheduler_daemon.py [--workers N] [--once] ...`.

The same command as the installed `automagik-daemon`; it lives in automagik/daemon/command.py
so that an installed package has it too. Every option can also be set by environment
(AUTOMAGIK_WORKERS, AUTOMAGIK_POLL_SECONDS, AUTOMAGIK_LOG_LEVEL, ...; see README).
"""

from __future__ import annotations

import sys

from automagik.daemon.command import main

if __name__ == "__main__":
    sys.exit(main())
