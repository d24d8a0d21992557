"""Base models: the embedded tiny GPT-NeoX-style model and Pythia (online).

The embedded model is a HookedTransformer with Pythia's architecture choices (rotary embeddings on
part of each head, parallel attention + MLP, LayerNorm, GELU). Its weights at initialization are
saved before training: that is this model's true step-0.
"""

from __future__ import annotations

import json
import math
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from randsae.io import read_json, write_json

if TYPE_CHECKING:
    from randsae.sections import ArchConfig, TrainConfig

warnings.filterwarnings("ignore", category=DeprecationWarning, module="transformer_lens")

# Validation loss (and the unigram baseline) use at most this many held-out tokens.
VAL_LOSS_TOKENS = 65536

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def resolve_device(device: str) -> str:
    """The one device rule of every stage (the toy sweep too).

    ``auto`` → cuda when available, else cpu; ``cuda`` without a GPU is an error, not a silent
    fallback; a string torch does not know as a device is an error naming the ``device`` key.
    """
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError) as err:
        raise ValueError(
            f"device: unknown device {device!r}; expected auto, cpu or cuda[:N]"
        ) from err
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device


def neox_config(arch: ArchConfig, d_vocab: int, seed: int) -> Any:
    """HookedTransformerConfig of a tiny GPT-NeoX-architecture model (as TL derives it for Pythia)."""
    from transformer_lens import HookedTransformerConfig

    dims = ("n_layers", "d_model", "n_heads", "d_head", "d_mlp", "n_ctx", "rotary_dim")
    return HookedTransformerConfig(
        **{k: getattr(arch, k) for k in dims},
        d_vocab=d_vocab,
        act_fn="gelu",
        normalization_type="LN",
        eps=1e-5,
        positional_embedding_type="rotary",
        rotary_adjacent_pairs=False,
        rotary_base=10000,
        parallel_attn_mlp=True,
        use_attn_scale=True,
        default_prepend_bos=False,
        original_architecture="GPTNeoXForCausalLM",
        init_weights=True,
        seed=seed,
        device="cpu",
    )


def save_model(model: Any, out_dir: str | Path, extra: dict[str, Any] | None = None) -> None:
    """Save a HookedTransformer as ``model.safetensors`` + ``config.json`` (exact round trip)."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg = model.cfg.to_dict()
    for key in ("n_params", "device", "n_devices"):
        cfg.pop(key, None)
    cfg["dtype"] = str(cfg["dtype"]).removeprefix("torch.")
    cfg = {k: v for k, v in cfg.items() if _jsonable(v)}
    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(out_dir / "model.safetensors"))
    write_json(out_dir / "config.json", {"cfg": cfg, **(extra or {})})


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
        return True
    except TypeError:
        return False


def load_saved_model(model_dir: str | Path, device: str = "cpu", dtype: str = "float32") -> Any:
    """Load a model saved by :func:`save_model`."""
    from safetensors.torch import load_file
    from transformer_lens import HookedTransformer, HookedTransformerConfig

    meta = read_json(Path(model_dir) / "config.json")
    cfg_dict = dict(meta["cfg"])
    cfg_dict["dtype"] = DTYPES[dtype]
    cfg_dict["device"] = device
    cfg_dict["init_weights"] = False
    cfg = HookedTransformerConfig.from_dict(cfg_dict)
    model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    state = load_file(str(Path(model_dir) / "model.safetensors"))
    model.load_state_dict(state, strict=True)
    model = model.to(DTYPES[dtype])
    model = model.to(device)
    return model.eval()


def init_embedded(arch: ArchConfig, d_vocab: int, seed: int, out_dir: str | Path) -> dict[str, Any]:
    """Build the embedded model at initialization (TransformerLens init, seeded) and save it."""
    from transformer_lens import HookedTransformer

    torch.manual_seed(seed)
    model = HookedTransformer(neox_config(arch, d_vocab, seed), tokenizer=None)
    n_params = sum(p.numel() for p in model.parameters())
    save_model(model, out_dir, {"n_params": n_params, "seed": seed, "step": 0})
    return {"n_params": n_params}


def _lr_at(step: int, total: int, warmup: int, lr: float) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


@torch.no_grad()
def lm_loss(model: Any, stream: np.ndarray, n_ctx: int, batch_size: int = 32) -> float:
    """Mean next-token cross-entropy (nats) over a token stream cut into n_ctx sequences."""
    from randsae.data.corpus import sequences

    seqs = torch.from_numpy(sequences(stream, n_ctx).astype(np.int64))
    total, count = 0.0, 0
    for i in range(0, len(seqs), batch_size):
        batch = seqs[i : i + batch_size].to(model.cfg.device)
        loss = model(batch, return_type="loss", loss_per_token=True)
        total += float(loss.float().sum())
        count += loss.numel()
    return total / count


def train_embedded(
    step0_dir: str | Path,
    train_stream: np.ndarray,
    val_stream: np.ndarray,
    train_cfg: TrainConfig,
    seed: int,
    out_dir: str | Path,
    log_path: str | Path | None = None,
) -> dict[str, Any]:
    """Train the embedded model from its step-0 weights (AdamW, warm-up + cosine decay).

    Returns and saves metrics: final validation loss and the unigram baseline of the same
    tokenizer on the same validation tokens.
    """
    from randsae.data.corpus import unigram_cross_entropy

    model = load_saved_model(step0_dir)
    model.train()
    n_ctx = model.cfg.n_ctx
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(
        model.parameters(),
        lr=train_cfg.lr,
        weight_decay=train_cfg.weight_decay,
        betas=(0.9, 0.95),
    )
    stream = torch.from_numpy(train_stream.astype(np.int64))
    steps, bs = train_cfg.steps, train_cfg.batch_size
    if len(stream) <= n_ctx + 1:
        raise ValueError("training stream is shorter than one context")
    log_lines = ["step,loss,lr,tokens_per_s"]
    t0 = time.time()
    for step in range(steps):
        lr = _lr_at(step, steps, train_cfg.warmup_steps, train_cfg.lr)
        for g in opt.param_groups:
            g["lr"] = lr
        starts = torch.randint(0, len(stream) - n_ctx, (bs,), generator=gen)
        batch = torch.stack([stream[s : s + n_ctx] for s in starts.tolist()])
        loss = model(batch, return_type="loss")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 25 == 0 or step == steps - 1:
            tps = (step + 1) * bs * n_ctx / (time.time() - t0)
            log_lines.append(f"{step},{float(loss):.4f},{lr:.6g},{tps:.0f}")
    model.eval()
    wall = time.time() - t0
    val_stream = val_stream[:VAL_LOSS_TOKENS]
    val_loss = lm_loss(model, val_stream, n_ctx)
    unigram = unigram_cross_entropy(train_stream, val_stream, model.cfg.d_vocab)
    step0_val = lm_loss(load_saved_model(step0_dir), val_stream, n_ctx)
    n_params = sum(p.numel() for p in model.parameters())
    metrics = {
        "val_loss": val_loss,
        "val_loss_step0": step0_val,
        "unigram_val_loss": unigram,
        "margin_vs_unigram_nats": unigram - val_loss,
        "train_tokens": steps * bs * n_ctx,
        "train_seconds": wall,
        "n_params": n_params,
    }
    save_model(model, out_dir, {"n_params": n_params, "seed": seed, "step": steps})
    write_json(Path(out_dir) / "metrics.json", metrics)
    if log_path is not None:
        Path(log_path).write_text("\n".join(log_lines) + "\n")
    return metrics


def load_pythia(
    hf_name: str,
    *,
    step0: bool,
    device: str = "cpu",
    dtype: str = "float32",
    revision: str | None = None,
) -> Any:
    """Load a Pythia model from the Hub into TransformerLens; step-0 is the ``step0`` revision.

    The HF model is loaded here with ``transformers`` (``revision="step0"`` for step-0, else
    ``revision`` or ``main``) and handed to TransformerLens as ``hf_model``. TransformerLens
    3.9.0's own checkpoint route (``checkpoint_value=0``) is not used: it sends
    ``token=os.environ.get("HF_TOKEN", "")``, and the empty token becomes an ``Authorization:
    Bearer `` header that the HTTP layer rejects, so every public step-0 download failed without
    a token. Here no token is passed at all: ``huggingface_hub`` reads ``HF_TOKEN`` (or a login)
    itself and sends nothing when there is none. Honours ``HF_HUB_OFFLINE`` and the ``HF_HOME``
    cache.
    """
    from transformer_lens import HookedTransformer
    from transformers import AutoModelForCausalLM

    from randsae.hub import hub_call

    rev = "step0" if step0 else (revision or "main")
    with hub_call(f"model {hf_name}@{rev}"):
        hf_model = AutoModelForCausalLM.from_pretrained(hf_name, revision=rev, dtype=DTYPES[dtype])
        model = HookedTransformer.from_pretrained_no_processing(
            hf_name, hf_model=hf_model, device=device, dtype=DTYPES[dtype], revision=rev
        )
    del hf_model
    return model.eval()
