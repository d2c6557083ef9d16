"""The one owner of task and schedule state.

Every change of a task's status happens here, as one of the transitions of `states`:
a fire becomes a task or a skip (`fires`), a manual run is queued or a failed task retried
(`manual`), a daemon claims a task (`leases`), records its try (`outcomes`), recovers an
abandoned one or hands one back (`recovery`). The daemon, the services and the CLI call these;
none writes a status itself.
"""
