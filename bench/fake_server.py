"""The LangFlow test server as its own process for the benchmarks, recording when each run arrived.

    python -m bench.fake_server --port P --api-key K --record arrivals.json [--fail-first-seconds N]

It serves tests.langflow_server.FakeLangFlow (flows answer at once: no work per run) on
127.0.0.1 only. On SIGTERM/SIGINT it stops and writes one JSON list per run,
[received_at (epoch seconds), the input text sent, HTTP status], to --record. A separate
process keeps the server's threads off the GIL of the scheduler being measured.

With --fail-first-seconds N, LangFlow is down for N seconds: every run answers HTTP 500
(LangFlow's own error body; listing flows still works), from when the server listens; each
SIGUSR1 starts that outage again from that moment, so a benchmark can line it up with its
own start after seeding (FakeServer.start_outage).
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


class Outage:
    """Every run answers HTTP 500 for `seconds` after each start(); then the server recovers."""

    def __init__(self, fake: FakeLangFlow, seconds: float) -> None:
        self.fake, self.seconds = fake, seconds
        self._lock = threading.Lock()
        self._generation = 0  # a timer from an earlier start() must not end a newer outage
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        with self._lock:
            self._generation += 1
            if self._timer is not None:
                self._timer.cancel()
            self.fake.force_status = 500
            self._timer = threading.Timer(self.seconds, self._end, args=(self._generation,))
            self._timer.daemon = True
            self._timer.start()
        print(f"outage: runs answer HTTP 500 for {self.seconds:g} s", flush=True)

    def _end(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self.fake.force_status = None
        print("outage over: runs answer normally", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--record", help="where to write the arrivals on exit (JSON)")
    parser.add_argument("--record-limit", type=int, default=2_000_000)
    parser.add_argument(
        "--fail-first-seconds",
        type=float,
        default=0.0,
        help="runs answer HTTP 500 for this long after listening, and again after each SIGUSR1",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds every run takes")
    args = parser.parse_args(argv)
    fake = FakeLangFlow(api_key=args.api_key, port=args.port, host="127.0.0.1", record_limit=args.record_limit)
    fake.latency = args.latency
    outage = Outage(fake, args.fail_first_seconds) if args.fail_first_seconds > 0 else None
    if outage is not None:
        outage.start()
        signal.signal(signal.SIGUSR1, lambda *_: outage.start())
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
