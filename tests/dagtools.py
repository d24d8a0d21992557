"""Helpers shared by the workflow tests (not a test module)."""

from __future__ import annotations

import re
from collections import Counter


def job_stats(text: str) -> Counter:
    """Job counts per rule from the first 'Job stats' table of snakemake's output (empty if none)."""
    if "Job stats:" not in text:
        return Counter()
    table = text.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    counts: Counter = Counter()
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            counts[m.group(1)] = int(m.group(2))
    return counts
