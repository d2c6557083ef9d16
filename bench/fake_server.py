"""The LangFlow test server as its own process for the benchmarks, recording when each run arrived.

    python -m bench.fake_server --port P --api-key K --record arrivals.json

It serves tests.langflow_server.FakeLangFlow (flows answer at once: no work per run) on
127.0.0.1 only. On SIGTERM/SIGINT it stops and writes one JSON list per run,
[received_at (epoch seconds), the input text sent, HTTP status], to --record. A separate
process keeps the server's threads off the GIL of the scheduler being measured.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.langflow_server import FakeLangFlow  # noqa: E402


def _input_text(body: object) -> str | None:
    """The text a run carried: the input_value tweak of its input component (how Automagik sends it)."""
    if not isinstance(body, dict):
        return None
    for fields in (body.get("tweaks") or {}).values():
        if isinstance(fields, dict) and fields.get("input_value") is not None:
            return str(fields["input_value"])
    value = body.get("input_value")
    return None if value is None else str(value)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--record", help="where to write the arrivals on exit (JSON)")
    parser.add_argument("--record-limit", type=int, default=2_000_000)
    args = parser.parse_args(argv)
    fake = FakeLangFlow(api_key=args.api_key, port=args.port, host="127.0.0.1", record_limit=args.record_limit)
    fake.start()
    print(f"listening on {fake.url}", flush=True)
    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    stop.wait()
    fake.stop()
    if args.record:
        arrivals = [[run.received_at, _input_text(run.body), run.status] for run in fake.runs]
        Path(args.record).write_text(json.dumps(arrivals))
    return 0


if __name__ == "__main__":
    sys.exit(main())
