"""How many CPUs this process may really use (affinity and cgroup quota, not the host's count), and
how much CPU time a Lambda function's memory buys."""

from __future__ import annotations

import math
import os
from pathlib import Path

# Lambda gives a function one vCPU's worth of time per 1,769 MB (AWS Lambda docs, "Memory and computing power")
LAMBDA_MB_PER_VCPU = 1769
_CGROUP_V2_MAX = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1_QUOTA = Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")
_CGROUP_V1_PERIOD = Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def cgroup_cpu_limit(
    v2_max: Path = _CGROUP_V2_MAX,
    v1_quota: Path = _CGROUP_V1_QUOTA,
    v1_period: Path = _CGROUP_V1_PERIOD,
) -> float | None:
    """CPU quota of this cgroup in cores, or None when unlimited or unknown."""
    text = _read(v2_max)
    if text:
        quota, _, period = text.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota_text, period_text = _read(v1_quota), _read(v1_period)
    if quota_text and period_text and int(quota_text) > 0:
        return int(quota_text) / int(period_text)
    return None


def usable_cpus() -> int:
    """CPUs available to this process: affinity mask, capped by the cgroup quota (at least 1)."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    limit = cgroup_cpu_limit()
    if limit is not None:
        count = min(count, max(1, math.ceil(limit)))
    return max(1, count)


def lambda_vcpus(memory_mb: int) -> int:
    """Threads worth running in a Lambda function of `memory_mb`: the vCPUs its memory buys,
    rounded up (at least 1). Lambda shows the function two or more CPUs whatever its memory, but
    under one vCPU's time a second thread only queues for it (studies/results/cpu_quota.md)."""
    return max(1, math.ceil(memory_mb / LAMBDA_MB_PER_VCPU))
