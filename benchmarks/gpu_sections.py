"""The measurements of ``benchmarks/gpu_suite.py``, one function per section.

Each section takes the suite's context (device, sizes, time budget) and returns a JSON-ready
dict; the suite runs each in its own ``try`` and records what fails. Nothing here needs the
network: models have random weights of the Pythia shapes, activations are random or come from
those models, and the SAE step factories are ``benchmarks/bench_sae.py``'s.
"""

from __future__ import annotations

import gc
import importlib
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from randsae.sae.levers import Levers
from randsae.sections import SAEConfig

# Pythia shapes (HF config.json): layers, d_model, heads, d_mlp, rotary_dim; vocabulary 50304.
PYTHIA_SHAPES = {
    "70m": (6, 512, 8, 2048, 16),
    "410m": (24, 1024, 16, 4096, 16),
    "1b": (16, 2048, 8, 8192, 64),
}


def sae_section(**keys: Any) -> SAEConfig:
    """The ``sae`` section of a benchmark's recipe: ``keys`` over one-pass, no-checkpoint
    defaults (the trainers take the typed section)."""
    base = {
        "backend": "fused",
        "micro_batch_size": None,
        "lr": None,
        "shuffle_buffer_tokens": keys["batch_size"],
        "checkpoint_every_steps": 0,
        "layer_group_size": 1,
        "tracking": "none",
    }
    return SAEConfig.from_dict({**base, **keys})


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def free(dev: torch.device) -> None:
    gc.collect()
    if dev.type == "cuda":
        torch.cuda.empty_cache()


def peak_reset(dev: torch.device) -> int:
    if dev.type != "cuda":
        return 0
    sync(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    return torch.cuda.memory_allocated(dev)


def peak_since(dev: torch.device, base: int) -> int | None:
    if dev.type != "cuda":
        return None
    sync(dev)
    return torch.cuda.max_memory_allocated(dev) - base


def importable(name: str) -> str | None:
    """The error of importing ``name`` (None when it imports)."""
    try:
        importlib.import_module(name)
    except Exception as err:  # noqa: BLE001 - any import failure makes the row "not importable"
        return f"{type(err).__name__}: {err}"
    return None


# -------------------------------------------------------------------- trainer throughput


def trainers(ctx) -> dict[str, Any]:
    """Tokens/s of the matmul rooflines, sparsify, sae-lens and ours at each precision."""
    import bench_sae as bs

    s, dev = ctx.sizes, ctx.device
    out: dict[str, Any] = {"batch": s["batch"], "expansion": s["expansion"], "k": s["k"]}
    out["skipped"] = {m: e for m in ("sparsify", "sae_lens") if (e := importable(m))}
    rows = {}
    for d_in in s["shapes"]:
        if not ctx.time_left(s["trainer_shape_s"]):
            rows[d_in] = {"skipped": "time budget"}
            continue
        g = torch.Generator().manual_seed(0)
        x = torch.randn(s["batch"], d_in, generator=g).to(dev)
        d_sae = d_in * s["expansion"]
        fns = {
            f"roofline_{p}": bs.make_roofline(x, d_sae, p) for p in ("float32", "tf32", "bfloat16")
        }
        if "sparsify" not in out["skipped"]:
            fns["sparsify"] = bs.make_sparsify(x, d_sae, s["k"])
        for p in ("float32", "tf32", "auto"):
            fns[f"ours_{p}"] = bs.make_ours(x, d_sae, s["k"], precision=p)
        row = {n: s["batch"] / t for n, t in bs.measure(fns, dev, s["repeats"], s["inner"]).items()}
        del fns
        free(dev)
        if "sae_lens" not in out["skipped"] and ctx.time_left(s["saelens_s"]):
            sl = {
                f"saelens_{kind}": bs.make_saelens(x, d_sae, s["k"], tuned=kind == "tuned")
                for kind in ("default", "tuned")
            }
            t = bs.measure(sl, dev, s["saelens_repeats"], 1)
            row |= {n: s["batch"] / v for n, v in t.items()}
            del sl
            free(dev)
        rows[d_in] = row
        ctx.log(f"trainers d_in {d_in}: " + ", ".join(f"{n} {v:,.0f}" for n, v in row.items()))
        ctx.checkpoint()
    out["rows"] = rows
    return out


# -------------------------------------------------------------------- levers A/B


def _lever_variants(dev: torch.device, tiny: bool) -> dict[str, Levers | str]:
    base = Levers()
    variants: dict[str, Levers | str] = {
        "metrics_every=1": base.replace(metrics_every=1),
        "topk=chunked": base.replace(topk="chunked"),
        "compile_epilogue": base.replace(compile_epilogue=True),
    }
    if tiny:
        variants["compile_epilogue"] = (
            "tiny run: compile time left out (tests/test_sae_precision.py)"
        )
    if dev.type == "cuda" and importable("triton") is None:
        variants["sparse=triton"] = base.replace(sparse="triton")
    else:
        variants["sparse=triton"] = "not available (needs CUDA and Triton)"
    return variants


def levers(ctx) -> dict[str, Any]:
    """Each lever against the defaults (ours at ``auto``), interleaved pairs; exactness of the
    chunked top-k on the SAE's own pre-activations."""
    import bench_sae as bs

    s, dev = ctx.sizes, ctx.device
    variants = _lever_variants(dev, bool(ctx.args.tiny))
    rows: dict[str, dict[str, Any]] = {name: {} for name in variants}
    for d_in in s["lever_shapes"]:
        x = torch.randn(s["batch"], d_in, generator=torch.Generator().manual_seed(1)).to(dev)
        d_sae = d_in * s["expansion"]
        base = bs.make_ours(x, d_sae, s["k"], precision="auto")  # one baseline per width
        for name, lv in variants.items():
            # compiling is paid per width: the narrowest only, where launch overheads weigh most
            if name == "compile_epilogue" and d_in != s["lever_shapes"][0]:
                continue
            if isinstance(lv, str) or not ctx.time_left(s["lever_s"]):
                rows[name][d_in] = {"skipped": lv if isinstance(lv, str) else "time budget"}
                continue
            fns = {"base": base, "variant": bs.make_ours(x, d_sae, s["k"], "auto", levers=lv)}
            t = bs.measure(fns, dev, s["repeats"], s["inner"])
            rows[name][d_in] = {
                "base": s["batch"] / t["base"],
                "variant": s["batch"] / t["variant"],
                "ratio": t["base"] / t["variant"],
            }
            del fns
            free(dev)
        del base, x
        free(dev)
        ctx.checkpoint()
    return {"rows": rows, "exact_topk": _chunked_exactness(ctx), "pinned": _pinned_feed(ctx)}


def _chunked_exactness(ctx) -> dict[str, Any]:
    """Rows whose chunked index set equals torch.topk's, on bf16/fp32 pre-activations of a
    trained-for-a-few-steps SAE (ties at the k-th value included)."""
    from randsae.sae import select
    from randsae.sae.topk import TopKSAE

    s, dev, out = ctx.sizes, ctx.device, {}
    for d_in in s["lever_shapes"][:1] + s["lever_shapes"][-1:]:
        sae = TopKSAE(d_in, d_in * s["expansion"], s["k"], seed=0, device=dev)
        x = torch.randn(s["batch"], d_in, generator=torch.Generator().manual_seed(2)).to(dev)
        for dtype in (torch.bfloat16, torch.float32):
            with torch.no_grad():
                pre = (x.to(dtype) @ sae.W_enc.to(dtype)).relu_()
            _, a = select.chunked_topk(pre, s["k"], Levers().topk_chunk)
            _, b = pre.topk(s["k"], dim=-1, sorted=False)
            same = (a.sort(dim=1).values == b.sort(dim=1).values).all(dim=1)
            out[f"{d_in}/{str(dtype).removeprefix('torch.')}"] = float(same.float().mean())
        del sae, x
        free(dev)
    return out


def _pinned_feed(ctx) -> dict[str, Any]:
    """Steps/s of ours fed from a host block through ``_gather_rows`` (the cache source's
    batch path), pinned against pageable memory. CUDA only."""
    import bench_sae as bs

    from randsae.sae.act_source import _gather_rows

    s, dev = ctx.sizes, ctx.device
    if dev.type != "cuda" or not ctx.time_left(s["lever_s"]):
        return {"skipped": "CUDA only" if dev.type != "cuda" else "time budget"}
    d_in, n = s["lever_shapes"][-1], s["batch"]
    host = torch.randn(n * 8, d_in)
    x0 = torch.empty(n, d_in, device=dev)
    step = bs.make_ours(x0, d_in * s["expansion"], s["k"], precision="auto")
    g = torch.Generator().manual_seed(3)

    def feed(block: torch.Tensor, pin: bool):
        def one() -> None:
            rows = torch.randint(0, block.shape[0], (n,), generator=g)
            x0.copy_(_gather_rows(block, rows, pin), non_blocking=True)
            step()

        return one

    fns = {"pageable": feed(host, False), "pinned": feed(host.pin_memory(), True)}
    res = {k: n / t for k, t in bs.measure(fns, dev, s["repeats"], s["inner"]).items()}
    del fns  # the job goes with this frame
    res["ratio"] = res["pinned"] / res["pageable"]
    return res


# -------------------------------------------------------------------- profile


# Checked in order; the first category whose key a kernel or op name contains wins.
CATEGORIES = (
    (
        "top-k",
        ("topk", "radixfindkth", "kthvalue", "withinkcounts", "kthcounts", "gathertopk"),
    ),
    ("matmul", ("gemm", "xmma", "nvjet", "cutlass", "addmm", "aten::mm", "matmul")),
    ("optimizer", ("adam", "multi_tensor", "foreach", "clip_grad", "norm")),
    (
        "sparse terms",
        ("embedding_bag", "embeddingbag", "sort", "searchsorted", "index", "scatter", "gather",
         "bag_sum", "gather_dot"),
    ),
)  # fmt: skip


def categorize(name: str) -> str:
    low = name.lower()
    for cat, keys in CATEGORIES:
        if any(k in low for k in keys):
            return cat
    return "other"


def profile(ctx) -> dict[str, Any]:
    """Where one step of ours at ``auto`` spends its time (torch profiler): matmul, top-k,
    sparse terms, optimizer, other. GPU: kernel time; CPU: self CPU time of the ops."""
    import bench_sae as bs
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as tprofile

    s, dev, out = ctx.sizes, ctx.device, {}
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if dev.type == "cuda" else [])
    for d_in in s["profile_shapes"]:
        if not ctx.time_left(s["profile_s"]):
            out[d_in] = {"skipped": "time budget"}
            continue
        x = torch.randn(s["batch"], d_in, generator=torch.Generator().manual_seed(4)).to(dev)
        step = bs.make_ours(x, d_in * s["expansion"], s["k"], precision="auto")
        for _ in range(3):
            step()
        sync(dev)
        steps = s["profile_steps"]
        with tprofile(activities=acts) as prof:
            for _ in range(steps):
                step()
            sync(dev)
        totals: dict[str, float] = {}
        top: dict[str, float] = {}
        for ev in prof.key_averages():
            us = ev.self_device_time_total if dev.type == "cuda" else ev.self_cpu_time_total
            if us <= 0 or (dev.type == "cuda" and ev.device_type.name != "CUDA"):
                continue
            totals[categorize(ev.key)] = totals.get(categorize(ev.key), 0.0) + us
            top[ev.key] = top.get(ev.key, 0.0) + us
        total = sum(totals.values()) or 1.0
        out[d_in] = {
            "kind": "CUDA kernel time" if dev.type == "cuda" else "CPU self time of ops",
            "ms_per_step": {k: v / 1e3 / steps for k, v in sorted(totals.items())},
            "share": {k: v / total for k, v in totals.items()},
            "top": [
                (k[:80], v / 1e3 / steps, categorize(k))
                for k, v in sorted(top.items(), key=lambda kv: -kv[1])[:10]
            ],
        }
        del step, x
        free(dev)
    return out


# -------------------------------------------------------------------- quality parity


def parity(ctx) -> dict[str, Any]:
    """fp32 against bf16 training at equal tokens on synthetic data with dead latents."""
    from randsae.sae.job import _SAEJob

    p, dev = ctx.sizes["parity"], ctx.device
    d, n_feat = p["d"], 4 * p["d"]
    g = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(d, d, generator=g))[0][: p["sub"]]
    feats = torch.randn(n_feat, p["sub"], generator=g) @ basis
    feats = (feats / feats.norm(dim=1, keepdim=True)).to(dev)
    res = {}
    for prec in ("float32", "bfloat16"):
        cfg = sae_section(
            k=p["k"],
            expansion_factor=p["expansion"],
            n_tokens=p["batch"] * p["steps"],
            batch_size=p["batch"],
            warmup_steps=10,
            b_dec_init="geometric_median",
            normalize_decoder=True,
            precision=prec,
        )
        job = _SAEJob("p", d_in=d, cfg=cfg, seed=1, device=dev, total_steps=p["steps"])
        gd = torch.Generator(device=dev).manual_seed(5)
        for _ in range(p["steps"]):
            idx = torch.randint(0, n_feat, (p["batch"], p["k"]), generator=gd, device=dev)
            mag = torch.rand(p["batch"], p["k"], generator=gd, device=dev) * 2 + 0.5
            z = torch.zeros(p["batch"], n_feat, device=dev).scatter_add_(1, idx, mag)
            job.train_step(z @ feats + 0.05 * torch.randn(p["batch"], d, generator=gd, device=dev))
        rows = job.log[-10:]
        res[prec] = {
            "fvu": sum(r["fvu"] for r in rows) / len(rows),
            "dead_frac": job.log[-1]["dead_frac"],
        }
        del job
        free(dev)
    f32, b16 = res["float32"], res["bfloat16"]
    res["fvu_rel_diff"] = abs(b16["fvu"] - f32["fvu"]) / f32["fvu"]
    res["dead_pp_diff"] = 100 * abs(b16["dead_frac"] - f32["dead_frac"])
    res["pass"] = res["fvu_rel_diff"] < 0.01 and res["dead_pp_diff"] < 1.0
    res["settings"] = p
    return res


# -------------------------------------------------------------------- memory


def memory(ctx) -> dict[str, Any]:
    """Peak device memory of one SAE's optimizer step with micro-batching (paper batch and
    micro-batch), against the memory model of ``benchmarks/compute_model.py``."""
    from compute_model import sae_train_bytes

    from randsae.sae.job import _SAEJob

    s, dev, rows = ctx.sizes, ctx.device, []
    m = s["memory"]
    for d_in in m["shapes"]:
        for prec in ("auto", "float32"):
            if not ctx.time_left(m["per_s"]):
                rows.append({"d_in": d_in, "precision": prec, "skipped": "time budget"})
                continue
            free(dev)
            base = peak_reset(dev)
            cfg = sae_section(
                k=s["k"],
                expansion_factor=s["expansion"],
                n_tokens=m["batch"] * 100,
                batch_size=m["batch"],
                micro_batch_size=m["micro"],
                warmup_steps=0,
                b_dec_init="zeros",
                normalize_decoder=True,
                precision=prec,
            )
            job = _SAEJob("m", d_in=d_in, cfg=cfg, seed=0, device=dev, total_steps=100)
            x = torch.randn(m["batch"], d_in, device=dev)
            for _ in range(2):
                job.train_step(x)
            peak = peak_since(dev, base)
            n = d_in * s["expansion"]
            parts = sae_train_bytes(d_in, n, s["k"], m["batch"], m["micro"], job.precision)
            rows.append(
                {
                    "d_in": d_in,
                    "precision": job.precision,
                    "batch": m["batch"],
                    "micro": m["micro"],
                    "peak_bytes": peak,
                    "predicted_bytes": sum(parts.values()),
                }
            )
            del job, x
            free(dev)
            ctx.checkpoint()
    return {"rows": rows}


# -------------------------------------------------------------------- stream-mode groups


def random_pythia(shape: tuple[int, int, int, int, int], dev: torch.device, dtype: torch.dtype):
    """A HookedTransformer of a Pythia shape with random weights, built on ``dev``."""
    from transformer_lens import HookedTransformer

    from randsae.models.neox import neox_config
    from randsae.sections import ArchConfig

    n_layers, d, heads, d_mlp, rot = shape
    arch = ArchConfig(
        n_layers=n_layers, d_model=d, n_heads=heads, d_mlp=d_mlp, n_ctx=2048, rotary_dim=rot
    )
    cfg = neox_config(arch, 50304, seed=0)
    cfg.device, cfg.dtype = str(dev), dtype
    with torch.device(dev):
        model = HookedTransformer(cfg, tokenizer=None, move_to_device=False)
    return model.to(dtype).eval()


def stream(ctx) -> dict[str, Any]:
    """One stream-mode group per Pythia shape (random weights, model in bf16 on CUDA): training
    tokens/s of the whole group, forward-only tokens/s, peak memory; block on device vs host."""
    from randsae.models.inits import LoadedModel
    from randsae.sae.act_source import StreamActivationSource
    from randsae.sae.activations import residual_batches
    from randsae.sae.train import train_sae_group

    s, dev = ctx.sizes, ctx.device
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    out: dict[str, Any] = {"model_dtype": str(dtype).removeprefix("torch.")}
    for spec in s["stream"]:
        name, layers = spec["model"], spec["layers"]
        if not ctx.time_left(spec["est_s"]):
            out[name] = {"skipped": "time budget"}
            continue
        shape = spec.get("shape") or PYTHIA_SHAPES[name]
        lm = LoadedModel(random_pythia(shape, dev, dtype))
        ctx_len, fb = spec["context"], spec["forward_batch"]
        rng = np.random.default_rng(0)
        toks = rng.integers(0, 50277, size=spec["n_tokens"] + ctx_len, dtype=np.int64)
        seqs = toks[: (len(toks) // ctx_len) * ctx_len].reshape(-1, ctx_len)
        n_fwd = min(len(seqs), spec["forward_seqs"])
        sync(dev)
        t0 = time.perf_counter()
        for _ in residual_batches(lm, seqs[:n_fwd], layers, fb, to_host=dev.type != "cuda"):
            pass
        sync(dev)
        row: dict[str, Any] = {
            "layers": layers,
            "d_model": shape[1],
            "settings": {
                k: spec[k] for k in ("context", "forward_batch", "batch", "micro", "n_tokens")
            }
            | {"expansion": s["expansion"], "k": s["k"]},
            "forward_tokens_per_s": n_fwd * ctx_len / (time.perf_counter() - t0),
        }
        blocks = ["device", "host"] if spec.get("ab_block") else ["auto"]
        for block in blocks:
            row[f"block={block}"] = _stream_run(
                ctx, lm, seqs, layers, spec, Levers(stream_block=block), train_sae_group,
                StreamActivationSource,
            )  # fmt: skip
        out[name] = row
        ctx.log(f"stream {name}: {row}")
        del lm
        free(dev)
        ctx.checkpoint()
    return out


def _stream_run(ctx, lm, seqs, layers, spec, lv, train_group, source_cls) -> dict[str, Any]:
    s, dev = ctx.sizes, ctx.device
    cfg = sae_section(
        k=s["k"], expansion_factor=s["expansion"], n_tokens=spec["n_tokens"],
        batch_size=spec["batch"], micro_batch_size=spec["micro"], warmup_steps=10,
        b_dec_init="geometric_median", normalize_decoder=True, precision="auto",
    )  # fmt: skip
    base = peak_reset(dev)
    source = source_cls(
        lm, seqs.reshape(-1), layers, context_size=spec["context"], batch_size=spec["batch"],
        n_tokens=spec["n_tokens"], buffer_tokens=spec["buffer"], seed=0,
        forward_batch_size=spec["forward_batch"], storage_dtype="float16", device=dev, levers=lv,
    )  # fmt: skip
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        summaries = train_group(
            source, d_in=lm.model.cfg.d_model, cfg=cfg, seeds={L: L for L in layers},
            out_dirs={L: Path(tmp) / f"layer{L}" for L in layers}, device=dev, progress=False,
            levers=lv,
        )  # fmt: skip
    sync(dev)
    wall = time.perf_counter() - t0
    one = next(iter(summaries.values()))
    return {
        "block_on_device": source.block_device is not None,
        "wall_s": wall,
        "tokens_per_s": spec["n_tokens"] / wall,
        "sae_tokens_per_s": spec["n_tokens"] * len(layers) / wall,
        "peak_bytes": peak_since(dev, base),
        "precision": one["precision"],
        "fvu": {str(k): v["fvu"] for k, v in summaries.items()},
    }


# -------------------------------------------------------------------- eval_sae


def eval_throughput(ctx) -> dict[str, Any]:
    """``evaluate_sae`` (+ the abstractness accumulator, as the ``eval_sae`` rule runs it) on a
    random pythia-70m-shaped model and a random 64x TopK SAE: tokens/s."""
    from randsae.evaluate.abstractness import AbstractnessAccumulator
    from randsae.evaluate.metrics import evaluate_sae
    from randsae.models.inits import LoadedModel
    from randsae.sae.topk import TopKSAE

    e, dev = ctx.sizes["eval"], ctx.device
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    shape = e.get("shape") or PYTHIA_SHAPES["70m"]
    lm = LoadedModel(random_pythia(shape, dev, dtype))
    d = shape[1]
    sae = TopKSAE(d, d * ctx.sizes["expansion"], ctx.sizes["k"], seed=0, device=dev)
    rng = np.random.default_rng(1)
    seqs = rng.integers(0, 50277, size=(e["n_tokens"] // e["context"], e["context"]))
    acc = AbstractnessAccumulator(sae.d_sae, 50304, top_n=100, r2_min_count=5, device=dev)
    sync(dev)
    t0 = time.perf_counter()
    res = evaluate_sae(
        lm, sae, seqs, e["layer"], batch_size=e["batch"], device=dev, latent_consumers=[acc.update]
    )
    acc.finalize(10)
    sync(dev)
    wall = time.perf_counter() - t0
    return {
        "tokens": int(seqs.size),
        "wall_s": wall,
        "tokens_per_s": seqs.size / wall,
        "model": e.get("label", "pythia-70m shape"),
        "model_dtype": str(dtype).removeprefix("torch."),
        "layer": e["layer"],
        "context": e["context"],
        "batch": e["batch"],
        "fvu": float(res["fvu"]),
    }
