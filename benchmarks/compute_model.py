"""Compute and storage model of a whole config's grid (default: configs/paper.yaml).

Measures two per-token costs on this machine, turns them into achieved FLOP/s, and scales every
rule of the grid by FLOPs:

* model forward: a pythia-70m-shaped random HookedTransformer (d_model 512, 6 layers, 8 heads,
  d_mlp 2048, vocab 50304; built from `randsae.models.neox.neox_config`, no download), fp32;
  FLOPs/token = 2 * N_params_matmul + 2 * n_layers * n_ctx * d_model (causal attention);
* SAE training step at the paper shape (d_in 512, 64x = 32768 latents, k 32, fused backend of
  `randsae.sae.train`, plain torch TopK if that is not importable). FLOPs/token: the fused
  backend's only dense op is the encoder forward, 2 * d_in * n_latents; its backward and decoder
  touch the k active latents only (~8 * d_in * k). A dense backend (sae-lens) pays ~6 * d_in *
  n_latents instead (`--dense-sae-backward`).

GPU-hours use a stated peak FLOP/s x utilisation per kind of work (flags below) until a GPU
measurement replaces them; CPU-hours at the measured CPU rate are shown for contrast.

    python benchmarks/compute_model.py                       # measure, print, write docs/compute.md
    python benchmarks/compute_model.py --no-measure          # reuse the rates stored in docs/compute.md
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import re
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent

# Pythia architectures (Biderman et al. 2023, Table 1; HF config.json): n_layers, d_model, vocab.
PYTHIA = {
    "70m": (6, 512, 50304),
    "160m": (12, 768, 50304),
    "410m": (24, 1024, 50304),
    "1b": (16, 2048, 50304),
    "1.4b": (24, 2048, 50304),
    "2.8b": (32, 2560, 50304),
    "6.9b": (32, 4096, 50432),
}
EXAMPLE_BYTES_PER_WINDOW_TOKEN = 43  # measured on the smoke run's results/examples/*.json
TOKEN_BYTES = 4  # results/data/tokens/*.npy are int32


def arch_of(name: str, mcfg: dict) -> tuple[int, int, int]:
    if "arch" in mcfg:
        a = mcfg["arch"]
        return a["n_layers"], a["d_model"], 4096
    size = re.search(r"pythia-([0-9.]+[mb])", mcfg.get("hf_name", name)).group(1)
    return PYTHIA[size]


def forward_flops_per_token(
    n_layers: int, d: int, vocab: int, n_ctx: int, upto: int | None = None, unembed: bool = True
) -> float:
    """2 x matmul params (12 d^2 per layer, d_mlp = 4d) + causal attention; `upto` layers only."""
    layers = n_layers if upto is None else upto
    f = layers * (2 * 12 * d * d + 2 * n_ctx * d)
    return f + (2 * d * vocab if unembed else 0)


DENSE_SAE_BACKWARD = False


def sae_train_flops_per_token(d: int, n: int, k: int = 32) -> float:
    return 6 * d * n if DENSE_SAE_BACKWARD else 2 * d * n + 8 * d * k


def sae_infer_flops_per_token(d: int, n: int) -> float:
    return 2 * d * n  # dense encoder; sparse decoder


# ------------------------------------------------------------------ memory model (bytes)

GIB = 2**30
GPU_MEMORY_GIB = 80.0  # A100 80GB, the paper's GPU (v2 Table 1)
CUDA_CONTEXT_BYTES = 1 * GIB  # CUDA context + allocator slack (assumed, not measured here)
DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def pythia_heads(d: int) -> int:
    """Attention heads of the Pythia sizes (d_head 64 up to 1b/1.4b, 80 at 2.8b, 128 at 6.9b)."""
    return {512: 8, 768: 12, 1024: 16, 2048: 8, 2560: 32, 4096: 32}.get(d, max(1, d // 64))


def model_params(n_layers: int, d: int, vocab: int) -> int:
    """GPT-NeoX parameters: 12 d^2 per block (d_mlp = 4d) + untied embedding and unembedding."""
    return n_layers * (12 * d * d + 13 * d) + 2 * vocab * d + 2 * d


def gpu_precision(precision: str | None) -> str:
    """``sae.precision`` of a GPU run: ``auto`` is bfloat16 there (randsae.sae.precision)."""
    return "bfloat16" if precision in ("auto", "bfloat16") else "float32"


def sae_train_bytes(
    d: int, n: int, k: int, batch: int, micro: int | None, precision: str | None = "float32"
) -> dict[str, float]:
    """Bytes one SAE needs while it trains (fused backend, fp32 master weights), by part.

    ``state``: weights, gradients and the two Adam moments, 4 x (2 d n + n + d) x 4 B. The rest
    is the step's working set, held for one SAE at a time: the optimizer batch ``batch x d``,
    the dense pre-activation ``micro x n x 4 B`` (the whole batch without micro-batching), the
    micro-batch's centred input / reconstruction / its gradient (3 x micro x d x 4 B) and the
    TopK selection with its latent-major sort (~40 B per selected entry), and, only when
    micro-batching, one micro-batch's W_enc and W_dec gradients before autograd adds them to
    the accumulated ones (2 x d x n x 4 B). With ``precision`` bfloat16 (``auto`` on a GPU) the
    pre-activation is bf16 (2 B) and the step holds bf16 copies of the encoder weight and of the
    micro-batch's centred input (``low_precision_copies``, 2 x (d n + n + m d) B).
    """
    m = micro if micro is not None and micro < batch else batch
    low = gpu_precision(precision) == "bfloat16"
    return {
        "state": 4 * (2 * d * n + n + d) * 4,
        "batch": batch * d * 4,
        "pre_activation": m * n * (2 if low else 4),
        "micro_work": 3 * m * d * 4 + 40 * m * k,
        "accumulation": 2 * d * n * 4 if m < batch else 0,
        "low_precision_copies": 2 * (d * n + n + m * d) if low else 0,
    }


def stream_block_bytes(group: int, sae: dict, act: dict, d: int) -> tuple[float, bool]:
    """The stream source's shuffle block (``group`` layers) and whether it lives on the GPU:
    lever ``stream_block: auto`` keeps it there, in ``activations.dtype``, when it takes at most
    a quarter of the GPU's memory (``randsae.sae.act_source``); else fp32 pinned host memory."""
    on_gpu = group * sae["shuffle_buffer_tokens"] * d * DTYPE_BYTES[act["dtype"]]
    if on_gpu <= GPU_MEMORY_GIB * GIB / 4:
        return on_gpu, True
    return group * sae["shuffle_buffer_tokens"] * d * 4, False


def train_job_gpu_bytes(
    n_layers: int,
    d: int,
    vocab: int,
    *,
    group: int,
    sae: dict,
    act: dict,
    model_dtype: str = "bfloat16",
) -> dict[str, float]:
    """GPU bytes of one ``train_sae_group`` job (stream mode), by part."""
    n = d * sae["expansion_factor"]
    one = sae_train_bytes(
        d, n, sae["k"], sae["batch_size"], sae.get("micro_batch_size"), sae.get("precision")
    )
    b = DTYPE_BYTES[model_dtype]
    seqs, ctx = act["batch_size"], act["context_size"]
    # forward of one batch of sequences: attention scores and pattern (fp32) of one block, the
    # MLP hidden layer in and out of the activation, the hooked residuals of the group (fp32)
    forward = (
        seqs * ctx * (2 * pythia_heads(d) * ctx * 4 + 2 * 4 * d * b) + group * seqs * ctx * d * 4
    )
    block, on_gpu = stream_block_bytes(group, sae, act, d)
    return {
        "cuda_context": CUDA_CONTEXT_BYTES,
        "model_weights": model_params(n_layers, d, vocab) * b,
        "forward": forward,
        "sae_states": group * one["state"],
        "step_work": sum(v for k, v in one.items() if k != "state"),
        "shuffle_block": block if on_gpu else 0,
    }


# ------------------------------------------------------------------ measurements (CPU)


def measure_forward(threads: int, n_ctx: int = 256, batch: int = 2, repeats: int = 3) -> dict:
    import torch
    from transformer_lens import HookedTransformer

    from randsae.models.neox import neox_config
    from randsae.sections import ArchConfig

    torch.set_num_threads(threads)
    arch = {
        "n_layers": 6,
        "d_model": 512,
        "n_heads": 8,
        "d_mlp": 2048,
        "n_ctx": n_ctx,
        "rotary_dim": 16,
    }
    model = HookedTransformer(
        neox_config(ArchConfig.from_dict(arch), 50304, seed=0), tokenizer=None
    ).eval()
    toks = torch.randint(0, 50304, (batch, n_ctx))
    times = []
    with torch.inference_mode():
        model(toks)  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            model(toks)
            times.append(time.perf_counter() - t)
    tps = batch * n_ctx / min(times)
    flops = forward_flops_per_token(6, 512, 50304, n_ctx)
    return {
        "tokens_per_s": tps,
        "flops_per_token": flops,
        "flop_per_s": tps * flops,
        "n_ctx": n_ctx,
    }


def measure_sae(
    threads: int,
    d: int = 512,
    expansion: int = 64,
    k: int = 32,
    batch: int = 2048,
    repeats: int = 3,
) -> dict:
    import torch

    torch.set_num_threads(threads)
    n = d * expansion
    x = torch.randn(batch, d)
    try:
        from randsae.sae.train import _SAEJob
        from randsae.sections import SAEConfig

        cfg = {
            "k": k,
            "expansion_factor": expansion,
            "n_tokens": 10**8,
            "micro_batch_size": None,
            "lr": None,
            "warmup_steps": 0,
            "b_dec_init": "geometric_median",
            "backend": "fused",
            "normalize_decoder": True,
            "batch_size": batch,
            "shuffle_buffer_tokens": batch,
            "checkpoint_every_steps": 0,
            "layer_group_size": 1,
        }
        sae_cfg = SAEConfig.from_dict(cfg)
        cpu = torch.device("cpu")
        job = _SAEJob("cm", d_in=d, cfg=sae_cfg, seed=0, device=cpu, total_steps=10**6)

        def step():
            job.train_step(x)
            job.log.clear()

        backend = "randsae fused"
    except (ImportError, AttributeError, KeyError, TypeError):
        W_enc = torch.randn(d, n, requires_grad=True)
        W_dec = torch.randn(n, d, requires_grad=True)
        opt = torch.optim.Adam([W_enc, W_dec], lr=1e-4)

        def step():
            pre = x @ W_enc
            v, i = pre.topk(k, dim=-1)
            recon = (torch.zeros_like(pre).scatter(-1, i, v.relu())) @ W_dec
            ((recon - x) ** 2).mean().backward()
            opt.step()
            opt.zero_grad()

        backend = "plain torch TopK"
    step()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    tps = batch / min(times)
    flops = sae_train_flops_per_token(d, n, k)
    return {
        "tokens_per_s": tps,
        "flops_per_token": flops,
        "flop_per_s": tps * flops,
        "backend": backend,
        "shape": f"d_in {d}, {expansion}x ({n} latents), k {k}, batch {batch}",
    }


# ------------------------------------------------------------------ the model of the grid


def _interp_log(points: dict, d: float) -> float:
    """Piecewise-linear in log d through ``{d: value}``; constant beyond the measured range."""
    xs = sorted((float(k), float(v)) for k, v in points.items())
    if d <= xs[0][0]:
        return xs[0][1]
    for (x0, y0), (x1, y1) in zip(xs, xs[1:], strict=False):
        if d <= x1:
            t = (math.log(d) - math.log(x0)) / (math.log(x1) - math.log(x0))
            return y0 + t * (y1 - y0)
    return xs[-1][1]


class GpuRates:
    """Achieved GPU FLOP/s per kind of work: measured by ``benchmarks/gpu_suite.py`` when
    ``gpu["measured"]`` holds its rates, else stated peak x utilisation (an estimate)."""

    def __init__(self, gpu: dict) -> None:
        self.measured = gpu.get("measured")
        self.fwd = gpu.get("peak_model_tflops", 0) * 1e12 * gpu.get("util_model", 0)
        self.sae = gpu.get("peak_sae_tflops", 0) * 1e12 * gpu.get("util_sae", 0)

    def seconds(self, kind: str, d: int, fwd_flops: float, sae_flops: float) -> float:
        m = self.measured
        if not m:
            return (fwd_flops / self.fwd if fwd_flops else 0.0) + (
                sae_flops / self.sae if sae_flops else 0.0
            )
        if kind == "eval":
            return (fwd_flops + sae_flops) / m["eval_flop_per_s"]
        fwd = fwd_flops / _interp_log(m["forward_flop_per_s"], d) if fwd_flops else 0.0
        return fwd + (sae_flops / _interp_log(m["sae_flop_per_s"], d) if sae_flops else 0.0)


def grid_model(cfg: dict, gpu: dict, cpu: dict) -> list[dict]:
    """One row per (rule, model): jobs, FLOPs, GPU-hours, storage kept (bytes)."""
    rows = []
    inits = len(cfg["inits"])
    sae, act, ev, ex = cfg["sae"], cfg["activations"], cfg["eval"], cfg["examples"]
    stream = act["source"] == "stream"
    rates = GpuRates(gpu)
    for name, mcfg in cfg["models"].items():
        L, d, vocab = arch_of(name, mcfg)
        layers = sorted(mcfg["layers"])
        n = d * sae["expansion_factor"]
        cells = inits * len(layers)
        sae_bytes = (2 * d * n + n + d) * 4
        ctx = act["context_size"]

        def add(
            rule,
            jobs,
            fwd_flops=0.0,
            sae_flops=0.0,
            disk=0.0,
            peak=0.0,
            gpu_mem=0.0,
            name=name,
            d=d,
        ):
            kind = "eval" if rule == "eval_sae" else "train"
            rows.append(
                {
                    "rule": rule,
                    "model": name,
                    "jobs": jobs,
                    "flops": fwd_flops + sae_flops,
                    "gpu_h": rates.seconds(kind, d, fwd_flops, sae_flops) / 3600,
                    "cpu_h": (
                        fwd_flops / cpu["forward"]["flop_per_s"]
                        + sae_flops / cpu["sae"]["flop_per_s"]
                    )
                    / 3600,
                    "disk": disk,
                    "peak": peak,
                    "gpu_mem": gpu_mem,
                }
            )

        add("build_init", inits, disk=inits * 4e3)
        train_sae_flops = cells * sae["n_tokens"] * sae_train_flops_per_token(d, n, sae["k"])
        if stream:
            g = min(mcfg.get("layer_group_size", sae["layer_group_size"]), len(layers))
            groups = [layers[i : i + g] for i in range(0, len(layers), g)]
            fwd = inits * sum(
                act["n_train_tokens"]
                * forward_flops_per_token(L, d, vocab, ctx, max(gr) + 1, False)
                for gr in groups
            )
            mem = train_job_gpu_bytes(
                L, d, vocab, group=g, sae=sae, act=act, model_dtype=mcfg.get("dtype", "bfloat16")
            )
            # checkpoints: weights + Adam moments (3x) of every SAE in a running group job
            add(
                "train_sae_group",
                inits * len(groups),
                fwd,
                train_sae_flops,
                cells * sae_bytes,
                peak=3 * sae_bytes * g,
                gpu_mem=sum(mem.values()),
            )
            block, on_gpu = stream_block_bytes(g, sae, act, d)
            rows[-1].update(mem_parts=mem, group=g, host_buffer=0 if on_gpu else block)
        else:
            fwd = (
                inits
                * act["n_train_tokens"]
                * forward_flops_per_token(L, d, vocab, ctx, max(layers) + 1, False)
            )
            cache = (
                inits
                * act["n_train_tokens"]
                * d
                * (max(layers) + 1)
                * (2 if act["dtype"] == "float16" else 4)
            )
            add("cache_activations", inits, fwd, disk=cache)
            one = sae_train_bytes(
                d, n, sae["k"], sae["batch_size"], sae.get("micro_batch_size"), sae.get("precision")
            )
            mem = {
                "cuda_context": CUDA_CONTEXT_BYTES,
                "sae_states": one.pop("state"),
                "step_work": sum(one.values()),
            }
            add(
                "train_sae",
                cells,
                0.0,
                train_sae_flops,
                cells * sae_bytes,
                peak=3 * sae_bytes,
                gpu_mem=sum(mem.values()),
            )
            rows[-1].update(
                mem_parts=mem, group=1, host_buffer=sae["shuffle_buffer_tokens"] * d * 4
            )
        # eval_sae: clean, with-SAE and zero-ablation forward passes over the eval tokens + SAE
        # inference, then (same job) the latent-example pass up to the layer over the example
        # tokens + SAE inference
        windows = ex["n_latents"] * (
            ex["n_explain"] + ex["n_test_activating"] + ex["n_test_nonactivating"]
        )
        ex_bytes = windows * ex["window"] * EXAMPLE_BYTES_PER_WINDOW_TOKEN
        examples_model = sum(
            inits
            * ex["n_tokens"]
            * forward_flops_per_token(L, d, vocab, ex["context_size"], lay + 1, False)
            for lay in layers
        )
        add(
            "eval_sae",
            cells,
            cells * 3 * ev["n_tokens"] * forward_flops_per_token(L, d, vocab, ctx) + examples_model,
            cells * (ev["n_tokens"] + ex["n_tokens"]) * sae_infer_flops_per_token(d, n),
            cells * (2e5 + ex_bytes),
        )
        add(
            "tokenize_corpus",
            1,
            disk=(act["n_train_tokens"] + ev["n_tokens"] + ex["n_tokens"]) * TOKEN_BYTES,
        )
    return rows


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if b < 1000 or unit == "TB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1000
    return ""


def tables(rows: list[dict], cpu_rates: dict) -> str:
    by_rule: dict[str, dict] = {}
    for r in rows:
        agg = by_rule.setdefault(
            r["rule"],
            {"jobs": 0, "flops": 0.0, "gpu_h": 0.0, "cpu_h": 0.0, "disk": 0.0, "peak": 0.0},
        )
        for k in ("jobs", "flops", "gpu_h", "cpu_h", "disk"):
            agg[k] += r[k]
        agg["peak"] = max(agg["peak"], r["peak"])
    out = [
        "| rule | jobs | PFLOP | GPU-hours | CPU-hours at measured rate | kept on disk |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for rule, a in by_rule.items():
        out.append(
            f"| `{rule}` | {a['jobs']} | {a['flops'] / 1e15:,.0f} | {a['gpu_h']:,.1f} | "
            f"{a['cpu_h']:,.0f} | {fmt_bytes(a['disk'])} |"
        )
    tot = {
        k: sum(a[k] for a in by_rule.values()) for k in ("jobs", "flops", "gpu_h", "cpu_h", "disk")
    }
    out.append(
        f"| **total** | **{tot['jobs']}** | **{tot['flops'] / 1e15:,.0f}** | **{tot['gpu_h']:,.0f}** | "
        f"**{tot['cpu_h']:,.0f}** | **{fmt_bytes(tot['disk'])}** |"
    )
    models = list(dict.fromkeys(r["model"] for r in rows))
    rules = list(by_rule)
    out += [
        "",
        "GPU-hours per model and rule (disk kept per model in the last column):",
        "",
        "| model | " + " | ".join(f"`{r}`" for r in rules) + " | total GPU-h | disk |",
        "|---|" + "---:|" * (len(rules) + 2),
    ]
    for m in models:
        mr = {r["rule"]: r for r in rows if r["model"] == m}
        out.append(
            f"| {m} | "
            + " | ".join(f"{mr[r]['gpu_h']:,.1f}" if r in mr else "–" for r in rules)
            + f" | {sum(x['gpu_h'] for x in mr.values()):,.1f} | {fmt_bytes(sum(x['disk'] for x in mr.values()))} |"
        )
    peak = max(rows, key=lambda r: r["peak"])
    out += [
        "",
        f"Largest transient checkpoint of one running job (SAE weights + Adam moments of its "
        f"layers): {fmt_bytes(peak['peak'])} (`{peak['rule']}`, {peak['model']}).",
    ]
    return "\n".join(out)


def memory_table(rows: list[dict], cfg: dict) -> str:
    """GPU memory of one SAE-training job per model, by part, against the 80 GiB of an A100."""
    sae, act = cfg["sae"], cfg["activations"]
    mb = sae.get("micro_batch_size")
    out = [
        "| model | rule | SAEs per job | CUDA context | model weights | forward | SAE states "
        "| step work | shuffle block | **total** | fits 80 GiB | without micro-batching "
        "| host: shuffle block |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        if "mem_parts" not in r:
            continue
        m = r["mem_parts"]
        mcfg = cfg["models"][r["model"]]
        L, d, vocab = arch_of(r["model"], mcfg)
        whole = dict(sae, micro_batch_size=None)
        if r["rule"] == "train_sae_group":
            no_mb = train_job_gpu_bytes(
                L,
                d,
                vocab,
                group=r["group"],
                sae=whole,
                act=act,
                model_dtype=mcfg.get("dtype", "bfloat16"),
            )
        else:
            one = sae_train_bytes(
                d,
                d * sae["expansion_factor"],
                sae["k"],
                sae["batch_size"],
                None,
                sae.get("precision"),
            )
            no_mb = {"cuda_context": CUDA_CONTEXT_BYTES, **one}
        tot, tot_no = sum(m.values()), sum(no_mb.values())
        fits = "yes" if tot <= GPU_MEMORY_GIB * GIB else "**no**"
        out.append(
            f"| {r['model']} | `{r['rule']}` | {r['group']} | "
            + " | ".join(
                f"{m.get(k, 0) / GIB:.1f}"
                for k in (
                    "cuda_context",
                    "model_weights",
                    "forward",
                    "sae_states",
                    "step_work",
                    "shuffle_block",
                )
            )
            + f" | **{tot / GIB:.1f}** | {fits} | {tot_no / GIB:.1f} | {r['host_buffer'] / GIB:.1f} |"
        )
    return "\n".join(out) + (
        f"\n\nGiB = 2^30 bytes. `sae.micro_batch_size` = {mb} of `sae.batch_size` = "
        f'{sae["batch_size"]}; "without micro-batching" is the same job with the whole batch in '
        "one pass (the dense pre-activation of the whole optimizer batch)."
    )


# v2 Table 1 (App K): A100-hours per variant (one A100 80GB); x 5 variants = 435 h.
PAPER_TABLE1_H = {"70m": 1, "160m": 1, "410m": 5, "1b": 10, "6.9b": 70}


def table1(rows: list[dict], cfg: dict) -> str:
    """Our GPU-hours per variant beside the paper's Table 1."""
    inits = len(cfg["inits"])
    out = [
        "| model | layers | paper (Table 1) h per variant | ours: SAE training h per variant "
        "| ours: all GPU rules h per variant | ours: all variants |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    paper_tot = ours_tot = 0.0
    for name, mcfg in cfg["models"].items():
        mr = [r for r in rows if r["model"] == name]
        train = sum(r["gpu_h"] for r in mr if r["rule"] in ("train_sae_group", "train_sae"))
        train += sum(r["gpu_h"] for r in mr if r["rule"] == "cache_activations")
        total = sum(r["gpu_h"] for r in mr)
        size = re.search(r"pythia-([0-9.]+[mb])", mcfg.get("hf_name", name))
        paper = PAPER_TABLE1_H.get(size.group(1)) if size else None
        paper_tot += (paper or 0) * inits
        ours_tot += total
        out.append(
            f"| {name} | {len(mcfg['layers'])} | {paper if paper is not None else '–'} | "
            f"{train / inits:,.1f} | {total / inits:,.1f} | {total:,.1f} |"
        )
    out.append(f"| **total** | | **{paper_tot:,.0f}** (all variants) | | | **{ours_tot:,.0f}** |")
    return "\n".join(out)


def measured_rates_text(m: dict) -> str:
    """The measured GPU rates, as a table (``gpu["measured"]``, from benchmarks/gpu_suite.py)."""
    out = [
        f"GPU rates measured on {m['device']} by `python benchmarks/gpu_suite.py` "
        f"({m['date']}, commit {m.get('commit', '?')}); the GPU-hours below divide each rule's "
        "FLOPs by them:",
        "",
        "| work | width d_in | achieved TFLOP/s |",
        "|---|---:|---:|",
    ]
    for d, r in sorted(m["sae_flop_per_s"].items(), key=lambda kv: float(kv[0])):
        out.append(f"| SAE training step (ours, `sae.precision: auto`) | {d} | {r / 1e12:,.1f} |")
    for d, r in sorted(m["forward_flop_per_s"].items(), key=lambda kv: float(kv[0])):
        out.append(
            f"| streamed forward (random Pythia-shaped weights, bf16) | {d} | {r / 1e12:,.1f} |"
        )
    out.append(
        f"| `eval_sae` (70m shape: 3 forward passes + SAE) | 512 | {m['eval_flop_per_s'] / 1e12:,.1f} |"
    )
    out += [
        "",
        "Other widths interpolate the achieved FLOP/s in log d_in and keep the nearest measured "
        "value beyond the measured range (pythia-6.9b's forward takes the 1b shape's rate and "
        "every `eval_sae` the 70m shape's: larger matmuls run at least as fast, so those hours "
        "are upper bounds).",
    ]
    return "\n".join(out)


def memory_check(m: dict | None) -> str:
    """Measured peak memory of one SAE step (gpu_suite ``memory``) against ``sae_train_bytes``."""
    rows = (m or {}).get("memory") or []
    if not rows:
        return (
            "Not measured on a GPU yet: `python benchmarks/gpu_suite.py` (section `memory`) "
            "measures the peak of one SAE's optimizer step at the paper's batch and micro-batch "
            "and fills this table in."
        )
    out = [
        "| d_in | precision | batch | micro-batch | measured peak GiB | model GiB | measured / model |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r.get("peak_bytes") is None:
            continue
        out.append(
            f"| {r['d_in']} | {r['precision']} | {r['batch']} | {r['micro']} | "
            f"{r['peak_bytes'] / GIB:.2f} | {r['predicted_bytes'] / GIB:.2f} | "
            f"{r['peak_bytes'] / r['predicted_bytes']:.2f} |"
        )
    return "\n".join(out)


GOAL_GPU_HOURS = 150


def render_doc(config_path: Path, cfg: dict, rates: dict, gpu: dict, gpu_name: str) -> str:
    """docs/compute.md: CPU rates measured here, GPU rates measured (``gpu["measured"]``) or
    assumed (peak x utilisation, labelled an estimate)."""
    rows = grid_model(cfg, gpu, rates)
    f, s = rates["forward"], rates["sae"]
    total = sum(r["gpu_h"] for r in rows)
    m = gpu.get("measured")
    if m:
        verdict = "within" if total <= GOAL_GPU_HOURS else "over"
        gpu_text = measured_rates_text(m) + (
            f"\n\nAt these rates v2's grid takes **{total:,.0f} GPU-hours**: {verdict} the goal of "
            f"{GOAL_GPU_HOURS} GPU-hours."
        )
    else:
        gpu_text = f"""**No GPU rates have been measured yet.** The GPU-hours below are an estimate from
assumed rates, not a measurement: {gpu_name}; model forward (bf16) at
{gpu["peak_model_tflops"]:g} TFLOP/s peak x {gpu["util_model"]:g} utilisation; SAE training/inference in fp32
arithmetic at {gpu["peak_sae_tflops"]:g} TFLOP/s x {gpu["util_sae"]:g}. The trainer's GPU default is now
`sae.precision: auto` (the encoder matmul in bf16), which these fp32 rates do not reflect; whether
v2's grid fits the goal of {GOAL_GPU_HOURS} GPU-hours is unknown until
`python benchmarks/gpu_suite.py` has measured the rates on a GPU (it then rewrites this file)."""
    sae_flops = (
        "6 x d_in x n_latents"
        if DENSE_SAE_BACKWARD
        else "2 x d_in x n_latents + 8 x d_in x k (fused backend)"
    )
    return f"""# Compute model: {config_path.name}

Generated by `python benchmarks/compute_model.py` (CPU rates; edit the assumptions there, or
pass flags) or, with measured GPU rates, by `python benchmarks/gpu_suite.py`.

Measured on this machine ({rates["machine"]}):

| work | measured tokens/s | FLOPs/token | achieved GFLOP/s |
|---|---:|---:|---:|
| pythia-70m-shaped forward (fp32, n_ctx {f["n_ctx"]}) | {f["tokens_per_s"]:,.0f} | {f["flops_per_token"]:.3g} | {f["flop_per_s"] / 1e9:,.1f} |
| SAE training step ({s["backend"]}; {s["shape"]}) | {s["tokens_per_s"]:,.0f} | {s["flops_per_token"]:.3g} | {s["flop_per_s"] / 1e9:,.1f} |

{gpu_text}

Other sizes scale by FLOPs: forward
2 x matmul parameters + causal attention per token (streamed passes stop at the deepest layer of
their group and skip the unembedding); SAE training {sae_flops} per token, inference
2 x d_in x n_latents. CPU-hours divide the same FLOPs by the measured CPU rates (for contrast).
Excluded: model download/loading (`build_init` is I/O bound), the Anthropic calls of `explain`
and `score` (no GPU; see docs/autointerp.md for their cost), Python overheads.

Storage: SAE weights 2 x d_in x n_latents x 4 bytes (+ biases) per cell; latent examples
{EXAMPLE_BYTES_PER_WINDOW_TOKEN} bytes per window token (measured on the smoke run); tokens int32;
no activation cache in stream mode (the cache row appears only with `activations.source: cache`).

{tables(rows, rates)}

## Beside the paper's Table 1

The paper reports the A100-hours of one variant per model size (v2 Appendix K; 435 h in all).
Ours are the FLOP model above at the stated GPU rates, per variant (= the model's total / the
{len(cfg["inits"])} inits); "SAE training" is the streamed forward passes plus the SAE steps.

{table1(rows, cfg)}

## GPU memory of an SAE-training job

`benchmarks/compute_model.py` (`train_job_gpu_bytes`, `sae_train_bytes`) counts, per job:
the CUDA context and allocator slack ({CUDA_CONTEXT_BYTES / GIB:.0f} GiB, assumed); the model
weights (`dtype`); the forward of one batch of `activations.batch_size` sequences (attention
scores and pattern of one block in fp32, the MLP hidden layer, the group's hooked residuals);
every SAE state of the group (weights, gradients, two Adam moments: 4 x (2 d n + n + d) x 4 B);
and the working set of one SAE step, held for one SAE at a time: the optimizer batch
(batch x d x 4 B), the dense pre-activation (**micro-batch x n_latents**, 2 B each in bf16 under
`sae.precision: auto`, else 4 B) with the bf16 copies of the encoder weight and the centred
micro-batch, the micro-batch's centred input, reconstruction and gradient, the TopK selection
and its sort, and, when micro-batching, one micro-batch's W_enc/W_dec gradients before they are
added to the accumulated ones (2 x d x n x 4 B). In stream mode the shuffle block (one per layer
of the group, `sae.shuffle_buffer_tokens` x d in `activations.dtype`) stays on the GPU when it
takes at most a quarter of its memory (else fp32 pinned host memory: last column). Validated
against measured CPU peaks in `docs/benchmarks.md` (micro-batching).

{memory_table(rows, cfg)}

### The memory model against measured GPU peaks

{memory_check(m)}

<!-- rates {json.dumps(rates)} -->
"""


def stored_cpu_rates(doc: Path) -> dict:
    """The CPU rates embedded in a compute.md (``--no-measure``)."""
    rates = json.loads(re.search(r"<!-- rates (.*?) -->", doc.read_text()).group(1))
    sae_fpt = sae_train_flops_per_token(512, 512 * 64, 32)  # the measured shape, current count
    rates["sae"].update(flops_per_token=sae_fpt, flop_per_s=rates["sae"]["tokens_per_s"] * sae_fpt)
    return rates


ASSUMED_GPU = {
    "peak_model_tflops": 312.0,
    "util_model": 0.30,
    "peak_sae_tflops": 19.5,
    "util_sae": 0.50,
}
ASSUMED_GPU_NAME = "A100 80GB SXM (the paper's GPU; rates assumed)"


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--config", default=str(ROOT / "configs" / "paper.yaml"))
    ap.add_argument("--out", default=str(ROOT / "docs" / "compute.md"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-measure", action="store_true", help="reuse the rates stored in --out")
    ap.add_argument("--gpu-name", default=ASSUMED_GPU_NAME)
    ap.add_argument(
        "--peak-model-tflops", type=float, default=ASSUMED_GPU["peak_model_tflops"],
        help="bf16 dense tensor-core peak",
    )  # fmt: skip
    ap.add_argument("--util-model", type=float, default=ASSUMED_GPU["util_model"])
    ap.add_argument(
        "--peak-sae-tflops", type=float, default=ASSUMED_GPU["peak_sae_tflops"],
        help="fp32 (no TF32: torch's default for matmuls) peak",
    )  # fmt: skip
    ap.add_argument("--util-sae", type=float, default=ASSUMED_GPU["util_sae"])
    ap.add_argument(
        "--gpu-rates", default=None, help="measured GPU rates (JSON written by gpu_suite.py)"
    )
    ap.add_argument(
        "--dense-sae-backward", action="store_true", help="count 6 d n per token (sae-lens backend)"
    )
    args = ap.parse_args()
    global DENSE_SAE_BACKWARD
    DENSE_SAE_BACKWARD = args.dense_sae_backward
    cfg = yaml.safe_load(Path(args.config).read_text())
    if args.no_measure:
        rates = stored_cpu_rates(Path(args.out))
    else:
        rates = {
            "forward": measure_forward(args.threads),
            "sae": measure_sae(args.threads),
            "machine": f"{platform.processor() or platform.machine()}, {args.threads} torch thread(s)",
        }
    gpu = {
        "peak_model_tflops": args.peak_model_tflops,
        "util_model": args.util_model,
        "peak_sae_tflops": args.peak_sae_tflops,
        "util_sae": args.util_sae,
    }
    if args.gpu_rates:
        gpu["measured"] = json.loads(Path(args.gpu_rates).read_text())
    text = render_doc(Path(args.config), cfg, rates, gpu, args.gpu_name)
    Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
