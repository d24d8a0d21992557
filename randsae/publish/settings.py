"""What the ``publish`` and ``artifacts`` sections (randsae.sections.publish) mean for a run's
config document: they say where results go or come from, so the run's digest leaves them out.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

#: Sections that say where results go or come from, not what a run computes: left out of the
#: config digest that report captions and the model card show.
NON_RUN_SECTIONS = ("publish", "artifacts")


def run_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config less :data:`NON_RUN_SECTIONS`: what the run computed from."""
    return {k: v for k, v in config.items() if k not in NON_RUN_SECTIONS}


def config_sha256(config: Mapping[str, Any]) -> str:
    """sha256 of :func:`run_config` (the digest report captions and the model card show)."""
    data = json.dumps(run_config(config), sort_keys=True, default=str)
    return hashlib.sha256(data.encode()).hexdigest()
