"""The error every config check raises (a leaf module: every layer may import it)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A config value is invalid; the message names the offending key."""
