"""Generic Claude request engine: response cache, cost ledger, budget cap, real-time and batch paths.

Nothing here knows about latents or prompts; ``randsae.autointerp.llm.claude`` builds the requests and parses the
answers. The engine takes a list of :class:`LLMRequest` (Messages API parameters + bookkeeping) and
returns one :class:`LLMResult` per ``custom_id``:

1. every request is keyed by ``sha256(model + canonical request JSON)``; keys already in the SQLite
   :class:`ResponseCache` are answered from it (zero API calls on a rerun of a finished cell);
2. the rest are estimated (``messages.count_tokens`` or characters / 4) and admitted against the
   hard budget cap (``budget_usd``, an upper bound that counts ``max_tokens`` output tokens);
3. admitted requests go to the Message Batches API (``execution: batch``; batch id persisted
   atomically in ``state_dir`` so a killed job re-attaches instead of paying twice, and recorded
   in a batch registry shared by parallel jobs so that none adopts, bills or cancels another's
   batch; only errored/expired items are resubmitted) or to ``messages.create`` on a bounded
   thread pool
   (``execution: realtime``; the SDK's retries handle 429/529/5xx/timeouts);
4. every billed call appends a line (tokens + $) to the JSONL cost ledger.

The API key is never read or stored here: the SDK takes it from ``ANTHROPIC_API_KEY``.

This package re-exports the public names; the code lives in ``settings`` (settings, budget
error), ``cache`` (request keys, SQLite response cache), ``costs`` (usage, prices, ledger),
``requests`` (requests, results, shared helpers), ``batches`` (Message Batches path),
``intents`` (create intents, ambiguous creates, orphan lookup), ``registry`` (the shared batch
registry) and ``engine`` (:class:`LLMEngine`).
"""

from randsae.autointerp.llm.cache import ResponseCache, canonical_json, request_key
from randsae.autointerp.llm.costs import (
    LEDGER_COLUMNS,
    CostLedger,
    aggregate_costs,
    cost_usd,
    read_ledger,
    usage_dict,
)
from randsae.autointerp.llm.engine import LLMEngine
from randsae.autointerp.llm.intents import create_failure
from randsae.autointerp.llm.registry import BatchRegistry
from randsae.autointerp.llm.requests import (
    ORPHAN_CLOCK_SLACK_S,
    ORPHAN_SEARCH_S,
    SERVER_CLOCK_SLACK_S,
    BatchResultsError,
    LLMRequest,
    LLMResult,
    message_problem,
)
from randsae.autointerp.llm.settings import (
    DEFAULT_PRICES,
    DEFAULTS,
    AnthropicSettings,
    BudgetExceededError,
)

__all__ = [
    "DEFAULT_PRICES",
    "DEFAULTS",
    "LEDGER_COLUMNS",
    "ORPHAN_CLOCK_SLACK_S",
    "ORPHAN_SEARCH_S",
    "SERVER_CLOCK_SLACK_S",
    "AnthropicSettings",
    "BatchRegistry",
    "BatchResultsError",
    "BudgetExceededError",
    "CostLedger",
    "LLMEngine",
    "LLMRequest",
    "LLMResult",
    "ResponseCache",
    "aggregate_costs",
    "canonical_json",
    "cost_usd",
    "create_failure",
    "message_problem",
    "read_ledger",
    "request_key",
    "usage_dict",
]
