"""Token usage, prices, the JSONL cost ledger and its aggregation into a cost table."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from randsae.secrets import redact

# ----------------------------------------------------------------------------------------------
# Costs
# ----------------------------------------------------------------------------------------------


def usage_dict(usage: dict | None) -> dict[str, int]:
    usage = usage or {}
    out = {
        "input_tokens": int(usage.get("input_tokens") or 0),
        "output_tokens": int(usage.get("output_tokens") or 0),
        "cache_creation_input_tokens": int(usage.get("cache_creation_input_tokens") or 0),
        "cache_read_input_tokens": int(usage.get("cache_read_input_tokens") or 0),
    }
    cc = usage.get("cache_creation") or {}
    out["cache_creation_1h_input_tokens"] = int(cc.get("ephemeral_1h_input_tokens") or 0)
    return out


def cost_usd(
    usage: dict,
    price: dict[str, float],
    *,
    batch: bool,
    batch_discount: float = 0.5,
    cache_ttl: str = "5m",
) -> float:
    """Dollar cost of one call from its usage block (``input_tokens`` excludes cached tokens)."""
    u = usage_dict(usage)
    created = u["cache_creation_input_tokens"]
    created_1h = (
        u["cache_creation_1h_input_tokens"]
        if usage.get("cache_creation")
        else (created if cache_ttl == "1h" else 0)
    )
    created_5m = max(created - created_1h, 0)
    usd = (
        u["input_tokens"] * price["input"]
        + u["output_tokens"] * price["output"]
        + created_5m * price["cache_write"]
        + created_1h * price.get("cache_write_1h", 2 * price["input"])
        + u["cache_read_input_tokens"] * price["cache_read"]
    ) / 1e6
    return usd * (batch_discount if batch else 1.0)


class CostLedger:
    """Append-only JSONL ledger of billed calls (one line per call; never holds credentials)."""

    def __init__(self, path: str | os.PathLike, cell: dict | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.cell = {k: (cell or {}).get(k) for k in ("model", "init", "layer")}
        self._lock = threading.Lock()

    def record(
        self,
        *,
        stage: str,
        llm_model: str,
        execution: str,
        usage: dict,
        usd: float,
        custom_id: str,
        latents: Sequence[int],
        request_id: str | None = None,
        orphan: bool = False,
    ) -> None:
        line = {
            "ts": time.time(),
            **self.cell,
            "stage": stage,
            "llm_model": llm_model,
            "execution": execution,
            "custom_id": custom_id,
            "request_id": request_id,
            "latents": [int(x) for x in latents],
            **usage_dict(usage),
            "usd": usd,
            "orphan": bool(orphan),
        }
        data = (redact(json.dumps(line, sort_keys=True)) + "\n").encode("utf-8")
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)

    def total_usd(self) -> float:
        return sum(r["usd"] for r in read_ledger(self.path))


def read_ledger(path: str | os.PathLike) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line:
            with contextlib.suppress(json.JSONDecodeError):  # a torn last line from a killed job
                rows.append(json.loads(line))
    return rows


LEDGER_COLUMNS = [
    "model",
    "init",
    "layer",
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "usd",
    "orphan_calls",
    "orphan_usd",
    "calls_per_latent",
]


def aggregate_costs(ledger_paths: Iterable[str | os.PathLike]):
    """One row per (model, init, layer) cell for ``results/tables/llm_cost.csv``.

    ``calls``, the token columns and ``usd`` count every billed call, orphan spend included;
    ``orphan_calls`` / ``orphan_usd`` are the part billed for batches whose answers were not
    used (a create whose reply was lost, found after its requests had been answered again).
    ``calls_per_latent`` = billed calls other than orphans / distinct latents that appear in
    the cell's ledger.
    """
    import pandas as pd

    rows = [r for p in ledger_paths for r in read_ledger(p)]
    if not rows:
        return pd.DataFrame(columns=LEDGER_COLUMNS)
    groups: dict[tuple, dict] = {}
    for r in rows:
        key = (r.get("model"), r.get("init"), r.get("layer"))
        g = groups.setdefault(
            key,
            {
                "calls": 0,
                "input_tokens": 0,
                "output_tokens": 0,
                "cache_read_tokens": 0,
                "cache_creation_tokens": 0,
                "usd": 0.0,
                "orphan_calls": 0,
                "orphan_usd": 0.0,
                "latents": set(),
            },
        )
        g["calls"] += 1
        if r.get("orphan"):
            g["orphan_calls"] += 1
            g["orphan_usd"] += float(r.get("usd", 0.0))
        g["input_tokens"] += int(r.get("input_tokens", 0))
        g["output_tokens"] += int(r.get("output_tokens", 0))
        g["cache_read_tokens"] += int(r.get("cache_read_input_tokens", 0))
        g["cache_creation_tokens"] += int(r.get("cache_creation_input_tokens", 0))
        g["usd"] += float(r.get("usd", 0.0))
        g["latents"].update(r.get("latents") or [])
    out = []
    for (model, init, layer), g in groups.items():
        n_lat = len(g.pop("latents"))
        out.append(
            {
                "model": model,
                "init": init,
                "layer": layer,
                **g,
                "calls_per_latent": (g["calls"] - g["orphan_calls"]) / n_lat
                if n_lat
                else float("nan"),
            }
        )
    df = pd.DataFrame(out, columns=LEDGER_COLUMNS)
    return df.sort_values(["model", "init", "layer"], key=lambda s: s.astype(str)).reset_index(
        drop=True
    )
