"""Cross-key checks of the ``autointerp`` section (judges and simulation)."""

from __future__ import annotations

from typing import Any

from randsae.errors import ConfigError


def check_autointerp(ai: dict[str, Any]) -> None:
    """Cross-key checks of the autointerp section (judges and simulation)."""
    second = ai.get("second_judge")
    if second is not None and second == ai.get("backend"):
        raise ConfigError(
            f"autointerp.second_judge={second!r} is the backend itself; choose the other judge"
        )
    n_sim = int((ai.get("simulation") or {}).get("n_latents") or 0)
    if n_sim > 0 and "openai" not in (ai.get("backend"), second):
        raise ConfigError(
            "autointerp.simulation.n_latents > 0 needs a judge with logprobs: set "
            "autointerp.backend or autointerp.second_judge to openai"
        )
