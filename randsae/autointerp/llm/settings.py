"""Settings of the Claude request engine and its budget error.

The settings are the ``autointerp.anthropic`` section (:class:`randsae.sections.AnthropicSettings`:
one field per key, the defaults a config that leaves a key out gets, prices merged over
:data:`DEFAULT_PRICES`); this module names them for the engine.
"""

from __future__ import annotations

from randsae.sections.autointerp import DEFAULT_PRICES, AnthropicSettings

#: Every key of ``autointerp.anthropic`` with its default (derived from the section).
DEFAULTS = AnthropicSettings.defaults()

__all__ = ["DEFAULTS", "DEFAULT_PRICES", "AnthropicSettings", "BudgetExceededError"]


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


class BudgetExceededError(RuntimeError):
    """Raised before a call whose estimated cost would take spending past ``budget_usd``.

    ``partial`` holds the results obtained so far (they are also in the response cache and the
    ledger, so a rerun with a larger budget does not pay for them again).
    """

    def __init__(self, message: str, partial: dict | None = None):
        super().__init__(message)
        self.partial = partial or {}
