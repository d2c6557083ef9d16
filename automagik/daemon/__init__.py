"""The scheduler daemon: a loop that turns due fires into tasks and runs them against LangFlow.

Modules, one job each: `settings` (options), `timers` (the `schedule` library on the
monotonic clock), `loop` (the loop), `jobs` (the timed jobs beside it: heartbeat, recovery,
the watch, statistics, flow sync, retention), `pool` (worker threads), `runner` (one try against
LangFlow), `heartbeat` (daemon rows), `alerts` (failure webhook). It changes no task's
status itself: `automagik.runs` does.
"""
