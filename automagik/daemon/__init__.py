"""The scheduler daemon: turns due fires into tasks and runs them against LangFlow.

Modules, one job each: `settings` (options), `dispatch` (fires → tasks), `claims` (task
leases: claim, extend, recover, hand back), `retry` (backoff), `heartbeat` (daemon rows),
`alerts` (failure webhook), `pool` (worker threads), `loop` (the `schedule`-driven loop).
Running one task against LangFlow lives in `automagik.runner`.
"""
