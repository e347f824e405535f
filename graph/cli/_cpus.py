"""How many CPUs this process may use: what ``MLGRAPH_WORKERS=auto`` starts one worker per.

The machine's core count is not the answer in a container: the scheduler's affinity mask may be
narrower, and a cgroup CPU quota (what a Kubernetes CPU limit becomes) caps the time all the
process's threads get together. The quota is rounded down: a limit of 1.5 CPUs gives one worker,
since a second would only share the first one's time.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["available_cpus"]

CGROUP = Path("/sys/fs/cgroup")


def available_cpus(cgroup: Path = CGROUP) -> int:
    """The CPUs this process may use (at least 1): its affinity, capped by a cgroup quota."""
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    quota = cgroup_quota(cgroup)
    if quota is not None:
        count = min(count or 1, math.floor(quota))
    return max(1, count or 1)


def cgroup_quota(cgroup: Path = CGROUP) -> float | None:
    """CPUs' worth of time a cgroup quota allows, or ``None`` without a quota.

    cgroup v2 writes ``<quota> <period>`` (or ``max <period>``) to ``cpu.max``; v1 writes them
    to ``cpu/cpu.cfs_quota_us`` (``-1`` for none) and ``cpu/cpu.cfs_period_us``.
    """
    try:
        fields = (cgroup / "cpu.max").read_text().split()
    except OSError:
        fields = []
    if len(fields) == 2:
        return None if fields[0] == "max" else _ratio(fields[0], fields[1])
    try:
        quota = (cgroup / "cpu" / "cpu.cfs_quota_us").read_text().strip()
        period = (cgroup / "cpu" / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return None if quota.startswith("-") else _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        value = int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None
    return value if value > 0 else None
