"""`check`: the health check for monitors (cron, systemd timers, Kubernetes probes)."""

from __future__ import annotations

from automagik.cli.output import info, print_json
from automagik.config import ConfigError
from automagik.daemon.settings import daemon_settings
from automagik.services.context import AppContext
from automagik.services.errors import InvalidInput
from automagik.services.health import check_health


def register(groups) -> None:
    check = groups.add_parser("check", help="exit 0 when all is well, 1 with one line per problem (for monitors)")
    check.add_argument("--json", action="store_true", help="print JSON")
    check.set_defaults(handler=run_check, checks_schema_itself=True)


def run_check(context: AppContext, _settings, args) -> int:
    try:
        options = daemon_settings()  # the daemons' heartbeat and grace, from the same variables
    except ConfigError as exc:
        raise InvalidInput(str(exc)) from None
    health = check_health(context, options.heartbeat_seconds, options.missed_grace_seconds)
    if args.json:
        print_json({"ok": health.ok, "problems": health.problems, "fine": health.fine})
    elif health.ok:
        info("ok: " + "; ".join(health.fine) + ".")
    else:
        for problem in health.problems:
            info(problem)
    return 0 if health.ok else 1
