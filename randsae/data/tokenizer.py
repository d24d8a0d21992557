"""Byte-level BPE tokenizer trained inside the DAG (embedded models), saved in HF format."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

EOS = "<|endoftext|>"
PAD = "<|padding|>"


def train_bpe(texts: Iterable[str], vocab_size: int, out_dir: str | Path) -> dict[str, Any]:
    """Train a byte-level BPE (Pythia-style specials: id 0 = EOS, id 1 = padding) and save it.

    Saved with ``save_pretrained`` so ``AutoTokenizer.from_pretrained(out_dir)`` reloads it — which
    TransformerLens needs (it re-loads tokenizers by ``name_or_path``).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    if vocab_size < 300:
        raise ValueError(
            f"tokenizer.vocab_size must be >= 300 (256 bytes + merges), got {vocab_size}"
        )
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=[EOS, PAD],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS, pad_token=PAD
    )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out_dir))
    return {"vocab_size": len(fast), "eos_id": fast.eos_token_id, "pad_id": fast.pad_token_id}


def load_tokenizer(path_or_name: str | Path) -> Any:
    """Load a tokenizer directory (or hub name) with ``AutoTokenizer``."""
    from transformers import AutoTokenizer

    if Path(path_or_name).is_dir():
        return AutoTokenizer.from_pretrained(str(path_or_name))
    from randsae.hub import hub_call

    with hub_call(f"tokenizer of {path_or_name}"):
        return AutoTokenizer.from_pretrained(str(path_or_name))


def token_strings(tokenizer: Any, ids: Iterable[int]) -> list[str]:
    """Readable per-token strings (decoded text, not byte-level glyphs such as 'Ġ')."""
    cache: dict[int, str] = {}
    out = []
    for i in ids:
        i = int(i)
        if i not in cache:
            cache[i] = tokenizer.decode([i])
        out.append(cache[i])
    return out
