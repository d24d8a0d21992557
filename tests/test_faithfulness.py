"""Faithfulness to the authors' protocol, through the real stage functions (randsae/*/steps.py).

A tiny embedded GPT-NeoX model, a byte-level BPE tokenizer and token arrays are laid out as the
workflow lays them out (``results/models/...``); each test runs stage functions in that directory.
Run: pytest tests/test_faithfulness.py
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from randsae.sections import ArchConfig, RunConfig, check_config
from randsae.seeds import stable_seed

ARCH_DICT = {"n_layers": 2, "d_model": 32, "n_heads": 4, "d_mlp": 64, "n_ctx": 32, "rotary_dim": 4}
ARCH = ArchConfig.from_dict(ARCH_DICT)
CTX = 32


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project directory with tokenizer, step-0 / 'trained' weights and token arrays."""
    from randsae.data.tokenizer import train_bpe
    from randsae.models.neox import init_embedded

    root = tmp_path_factory.mktemp("project")
    words = [
        "the",
        "cat",
        "sat",
        "on",
        "a",
        "mat",
        "while",
        "dogs",
        "ran",
        "over",
        "green",
        "hills",
        "and",
        "birds",
        "sang",
    ]
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(words, size=40)) for _ in range(50)]
    info = train_bpe(texts, 300, root / "results/data/tokenizer")
    d_vocab = info["vocab_size"]
    models = root / "results/models/tiny"
    init_embedded(ARCH, d_vocab, 0, models / "step0")
    # distinct 'trained' weights: another seeded init (training is not what these tests check)
    init_embedded(ARCH, d_vocab, 1, models / "trained")
    tokens = root / "results/data/tokens/tiny"
    tokens.mkdir(parents=True)
    np.save(tokens / "train.npy", rng.integers(2, d_vocab, size=4096).astype(np.int32))
    np.save(tokens / "val.npy", rng.integers(2, d_vocab, size=4096).astype(np.int32))
    return root


@pytest.fixture
def cfg(base_config):
    c = copy.deepcopy(base_config)
    c["models"]["tiny"]["arch"] = dict(ARCH_DICT)
    c["activations"].update(
        n_train_tokens=2048, context_size=CTX, batch_size=4, shard_tokens=512, dtype="float32"
    )
    c["sae"].update(
        expansion_factor=2,
        k=4,
        n_tokens=2048,
        batch_size=128,
        shuffle_buffer_tokens=512,
        checkpoint_every_steps=0,
        warmup_steps=2,
    )
    c["eval"].update(n_tokens=2048, batch_size=4)
    c["examples"].update(
        n_tokens=2048,
        context_size=CTX,
        window=16,
        n_latents=4,
        min_activating_windows=4,
        n_explain=2,
        n_test_activating=2,
        n_test_nonactivating=2,
        n_quantiles=2,
    )
    return c


def _random_sae(out: Path, seed: int = 0) -> Path:
    from randsae.sae.topk import TopKSAE

    TopKSAE(ARCH.d_model, 64, 4, seed=seed).save(out)
    return out


def _sae_tensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path / "sae_weights.safetensors"))


def run_of(cfg) -> RunConfig:
    """The typed sections of the test config (what the adapters build from params)."""
    return check_config(cfg)


def cell_of(cfg, init: str, model: str = "tiny") -> dict:
    """The (model, init) keywords of the stages that rebuild a model."""
    run = run_of(cfg)
    return dict(model_cfg=run.models[model], init_cfg=run.init, init=init)


def cache(cfg, init: str, out: str, tokens: str, **kw) -> None:
    from randsae.sae.steps import cache_activations

    cache_activations(
        **cell_of(cfg, init),
        act_cfg=run_of(cfg).activations,
        max_layer=max(cfg["models"]["tiny"]["layers"]),
        tokens_train=tokens,
        out_dir=out,
        device="cpu",
        **kw,
    )


def cell(cfg, init: str, sae_dir, tokens: str, **kw):
    from randsae.evaluate.cell import Cell

    c = cell_of(cfg, init)
    return Cell(c["model_cfg"], c["init_cfg"], init, 1, str(sae_dir), tokens, "cpu", **kw)


def examples(cfg, init: str, sae_dir, tokens: str, out: str, **kw) -> None:
    from randsae.evaluate.cell import latent_examples

    run = run_of(cfg)
    cell_ = cell(cfg, init, sae_dir, tokens, **kw)
    latent_examples(cell_, run.examples, run.eval, run.seed, "results/data/tokenizer", out)


def evaluate(cfg, init: str, sae_dir, tokens: str, out: str, latents: str, **kw) -> None:
    from randsae.evaluate.cell import eval_sae

    run = run_of(cfg)
    cell_ = cell(cfg, init, sae_dir, tokens, **kw)
    eval_sae(cell_, run.eval, run.activations.context_size, out, latents)


# -- (a) the noise control's streams ----------------------------------------------------------


def test_noise_examples_are_not_the_training_activations(project, cfg, monkeypatch):
    """Under the noise control activations depend only on the noise: the example stage must not
    replay the training stage's noise (it did: one generator seed for every stage)."""
    from randsae.sae.activations import read_layer
    from randsae.sae.topk import TopKSAE

    monkeypatch.chdir(project)
    train = "results/data/tokens/tiny/train.npy"
    cache(cfg, "noise_control", "results/act/nc", train)
    sae_dir = _random_sae(Path("results/saes/rand"))
    # the same token array for examples: under the noise control only the noise can differ
    cache(cfg, "noise_control", "results/act/nc2", train)
    examples(cfg, "noise_control", sae_dir, train, "results/ex.json")
    ex = json.loads(Path("results/ex.json").read_text())
    assert ex["latents"], "some latents must be chosen"
    # the cache stage is reproducible...
    x_train = torch.from_numpy(read_layer("results/act/nc", 1).copy())
    assert torch.equal(x_train, torch.from_numpy(read_layer("results/act/nc2", 1).copy()))
    # ...and the example activations are not the training activations
    sae = TopKSAE.load(sae_dir)
    with torch.no_grad():
        vals, idx = sae.encode(x_train)
    window = cfg["examples"]["window"]
    n_same = n_all = 0
    for rec in ex["latents"]:
        for w in rec["explain"] + rec["test_activating"]:
            sl = slice(w["window_id"] * window, (w["window_id"] + 1) * window)
            train_acts = torch.where(idx[sl] == rec["latent"], vals[sl], 0.0).sum(1)
            n_all += 1
            n_same += bool(np.allclose(w["acts"], train_acts.numpy(), atol=1e-4))
    assert n_all > 0 and n_same == 0


def test_noise_streams_differ_per_stage_and_reproduce(project, cfg, monkeypatch):
    from randsae.models.inits import NOISE_STREAMS, load_model
    from randsae.sae.activations import residual_batches

    monkeypatch.chdir(project)
    seqs = np.load("results/data/tokens/tiny/val.npy")[: 8 * CTX].reshape(8, CTX)
    first = {}
    for stream in NOISE_STREAMS:
        lm = load_model(**cell_of(cfg, "noise_control"), noise_stream=stream)
        a = torch.cat([b[0] for b in residual_batches(lm, seqs, [0], 4)])
        # batch grid and slicing do not change a sequence's noise; recomputing reproduces it
        b = torch.cat([b[0] for b in residual_batches(lm, seqs[3:], [0], 2, first_seq=3)])
        assert torch.equal(a[3 * CTX :], b)
        first[stream] = a
    assert not torch.equal(first["train"], first["eval"])
    assert not torch.equal(first["train"], first["examples"])
    assert not torch.equal(first["eval"], first["examples"])
    with pytest.raises(ValueError, match="noise stream"):
        load_model(**cell_of(cfg, "noise_control"), noise_stream="test")


def test_noise_control_cache_and_stream_train_identical_saes(project, cfg, monkeypatch):
    """Cache and stream modes train bit-identical SAEs under the noise control too, although the
    stream source visits forward batches in shuffled block order (and recomputes straddled ones)."""
    from randsae.sae.steps import train_sae, train_sae_group

    monkeypatch.chdir(project)
    train = "results/data/tokens/tiny/train.npy"
    cache(cfg, "noise_control", "results/act/nc_s", train)
    run = run_of(cfg)
    train_sae(
        "tiny",
        "noise_control",
        1,
        run.sae,
        run.activations,
        run.seed,
        "results/act/nc_s",
        "results/sae_cache",
        "results/sae_cache/curve.csv",
        "results/ckpt_cache",
        "cpu",
    )
    train_sae_group(
        **cell_of(cfg, "noise_control"),
        layers=[1],
        sae_cfg=run.sae,
        act_cfg=run.activations,
        seed=run.seed,
        tokens_train=train,
        out_dir="results/grp",
        device="cpu",
    )
    a, b = _sae_tensors(Path("results/sae_cache")), _sae_tensors(Path("results/grp/layer1"))
    assert set(a) == set(b)
    for k in a:
        assert torch.equal(a[k], b[k]), k


# -- (d) sequence-level shuffling ---------------------------------------------------------------


def test_training_batches_draw_whole_sequences_from_across_the_corpus(project, cfg, monkeypatch):
    """The source ``train_sae`` builds from the stage's cache: a 512-token buffer holds 16 whole
    32-token sequences from anywhere in the training tokens, not 512 consecutive tokens."""
    from randsae.sae.act_source import CachedActivationSource
    from randsae.sae.activations import read_layer

    monkeypatch.chdir(project)
    cache(cfg, "trained", "act_d", "results/data/tokens/tiny/train.npy")
    rows = torch.from_numpy(read_layer("act_d", 1).copy())
    sae = cfg["sae"]
    src = CachedActivationSource(
        "act_d",
        1,
        batch_size=sae["batch_size"],
        n_tokens=sae["n_tokens"],
        buffer_tokens=sae["shuffle_buffer_tokens"],
        seed=stable_seed(cfg["seed"], "shuffle", "tiny", "trained"),
    )
    first_block = torch.cat([next(src) for _ in range(512 // sae["batch_size"])])
    # where each emitted row sits in the cache; a row at position 0 depends on its token alone
    # and may occur twice, later positions identify their sequence
    origin = torch.cdist(first_block, rows).argmin(dim=1)
    assert torch.equal(rows[origin], first_block)
    seqs = torch.unique(origin[origin % CTX != 0] // CTX)
    assert len(seqs) == 512 // CTX
    whole = rows[(seqs[:, None] * CTX + torch.arange(CTX)).flatten()]
    dist = torch.cdist(whole, first_block, compute_mode="donot_use_mm_for_euclid_dist")
    assert float(dist.min(dim=1).values.max()) == 0.0
    assert int(seqs.max() - seqs.min()) >= 512 // CTX  # not one contiguous run


# -- (c) the top-N activating pool --------------------------------------------------------------


def _window_maxima_of(cfg, model: str, init: str, sae_dir: Path, tokens: str, layer: int = 1):
    """Every (window, latent) maximum the example stage sees, recomputed independently."""
    from randsae.data.corpus import sequences
    from randsae.evaluate.examples import latent_codes, window_maxima
    from randsae.models.inits import load_model
    from randsae.sae.topk import TopKSAE

    ex = cfg["examples"]
    sae = TopKSAE.load(sae_dir)
    seqs = sequences(np.load(tokens), ex["context_size"], ex["n_tokens"])
    lm = load_model(**cell_of(cfg, init, model), noise_stream="examples")
    vals, idx = latent_codes(lm, seqs, layer, sae.encode, 4)
    return seqs.reshape(-1), vals, idx, window_maxima(vals, idx, ex["window"], sae.d_sae)


def test_examples_draw_from_the_top_windows_pool(project, cfg, monkeypatch):

    monkeypatch.chdir(project)
    val = "results/data/tokens/tiny/val.npy"
    sae_dir = _random_sae(Path("results/saes/pool"), seed=3)
    cfg["examples"].update(max_activating_windows=8, n_explain=2, n_test_activating=2)
    examples(cfg, "trained", sae_dir, val, "pool.json")
    ex = json.loads(Path("pool.json").read_text())
    assert ex["latents"]
    _toks, _vals, _idx, (win, lat, mx) = _window_maxima_of(cfg, "tiny", "trained", sae_dir, val)
    from randsae.evaluate.examples import rank_key

    for rec in ex["latents"]:
        c = rec["latent"]
        # the documented ranking: maximum activation to RANK_DIGITS digits, ties by window index
        w_c = win[lat == c]
        ranked = w_c[np.lexsort((w_c, -rank_key(mx[lat == c])))]
        top = set(ranked[:8].tolist())
        assert rec["n_activating_windows"] > 8
        drawn = [w["window_id"] for w in rec["explain"] + rec["test_activating"]]
        assert set(drawn) <= top, (c, drawn, top)
        assert rec["n_pool_windows"] == 8
        # deciles of the pool: quantile 0 holds the pool's strongest half
        q0 = [w["window_id"] for w in rec["explain"] + rec["test_activating"] if w["quantile"] == 0]
        strongest = ranked[:4].tolist()
        assert set(q0) <= set(strongest)
    assert ex["max_activating_windows"] == 8


@pytest.mark.parametrize("init", ["trained", "noise_control"])
def test_eval_cell_writes_what_the_two_stages_write_apart(project, cfg, monkeypatch, init):
    """The eval_sae job runs evaluation and example sampling in one process: each keeps its own
    noise stream and seed, so every file is byte-identical to the stages run one after the other
    (as the separate latent_examples job did)."""
    from randsae.evaluate.steps import eval_cell

    monkeypatch.chdir(project)
    val = "results/data/tokens/tiny/val.npy"
    sae_dir = str(_random_sae(Path(f"results/saes/cell_{init}"), seed=5))
    cfg["examples"].update(max_activating_windows=8, n_explain=2, n_test_activating=2)
    run = run_of(cfg)
    eval_cell(
        **cell_of(cfg, init),
        layer=1,
        eval_cfg=run.eval,
        examples_cfg=run.examples,
        context_size=run.activations.context_size,
        seed=run.seed,
        sae_dir=sae_dir,
        tokens_val=val,
        tokenizer_path="results/data/tokenizer",
        out_json=f"{init}_m.json",
        out_latents=f"{init}_m.csv",
        out_examples=f"{init}_ex.json",
        device="cpu",
    )
    evaluate(cfg, init, sae_dir, val, "m.json", "m.csv")
    examples(cfg, init, sae_dir, val, "ex.json")
    for together, apart in (("_m.json", "m.json"), ("_m.csv", "m.csv"), ("_ex.json", "ex.json")):
        assert Path(init + together).read_bytes() == Path(apart).read_bytes(), apart
    assert json.loads(Path("ex.json").read_text())["latents"]


# -- (e) EOS/BOS positions out of every metric --------------------------------------------------


def test_special_token_positions_are_excluded_and_recorded(project, cfg, monkeypatch):
    from randsae.tables.aggregate import sae_metrics_table

    monkeypatch.chdir(project)
    toks = np.load("results/data/tokens/tiny/val.npy")
    toks[::8] = 0  # an EOS/BOS every 8 tokens
    np.save("val_eos.npy", toks)
    sae_dir = _random_sae(Path("results/saes/eos"), seed=4)
    cfg["eval"]["ignore_token_ids"] = [0]
    cfg["examples"]["max_activating_windows"] = 10000
    examples(cfg, "trained", sae_dir, "val_eos.npy", "eos.json")
    ex = json.loads(Path("eos.json").read_text())
    assert ex["latents"]
    n_windows = 0
    for rec in ex["latents"]:
        for w in rec["explain"] + rec["test_activating"] + rec["test_nonactivating"]:
            n_windows += 1
            at_eos = [a for t, a in zip(w["tokens"], w["acts"], strict=True) if t == 0]
            assert at_eos and all(a == 0 for a in at_eos)
    assert n_windows and ex["ignore_token_ids"] == [0]
    evaluate(cfg, "trained", sae_dir, "val_eos.npy", "m.json", "m.csv")
    rec = json.loads(Path("m.json").read_text())
    n_eval = cfg["eval"]["n_tokens"]
    assert rec["n_tokens"] == n_eval - n_eval // 8  # token-0 positions left out
    table = sae_metrics_table(["m.json"], {"tiny": 1})
    assert table.loc[0, "ignore_token_ids"] == "[0]"

    # the switch: [] keeps every position
    cfg["eval"]["ignore_token_ids"] = []
    evaluate(cfg, "trained", sae_dir, "val_eos.npy", "m0.json", "m0.csv")
    rec0 = json.loads(Path("m0.json").read_text())
    assert rec0["n_tokens"] == n_eval and rec0["ignore_token_ids"] == "[]"


def test_pythia_configs_exclude_token_zero():
    """Every shipped config of Pythia models leaves token 0 (EOS/BOS) out, as SAEBench does."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    n = 0
    for path in sorted((root / "configs").glob("*.yaml")):
        cfg = yaml.safe_load(path.read_text())
        if any(m["source"] == "pythia" for m in cfg["models"].values()):
            assert 0 in cfg["eval"]["ignore_token_ids"], path.name
            n += 1
    assert n >= 1  # configs/paper.yaml at least


# -- the recorded weights digest ----------------------------------------------------------------


def test_stages_check_the_recorded_weights_digest(project, cfg, monkeypatch, tmp_path):
    """A stage that rebuilds (model, init) refuses weights other than the build_init record's."""
    from randsae.models.neox import init_embedded
    from randsae.models.steps import build_init
    from randsae.sae.steps import train_sae_group

    monkeypatch.chdir(project)
    rec = "results/models/tiny/inits/rerandomized.json"
    build_init(**cell_of(cfg, "rerandomized"), device="cpu", out_json=rec)
    train = "results/data/tokens/tiny/train.npy"
    cache(cfg, "rerandomized", "act_ok", train, init_json=rec)
    # the base weights change under the record (another checkpoint, a moved hub revision)
    trained = Path("results/models/tiny/trained")
    shutil.copytree(trained, tmp_path / "trained.bak")
    try:
        shutil.rmtree(trained)
        init_embedded(ARCH, 300, 7, trained)
        sae_dir = str(_random_sae(Path("results/saes/digest")))
        match = rf"differ from those recorded in {rec}.*snakemake {rec} --forcerun build_init"
        with pytest.raises(ValueError, match=match):
            cache(cfg, "rerandomized", "act_bad", train, init_json=rec)
        with pytest.raises(ValueError, match=match):
            run = run_of(cfg)
            train_sae_group(
                **cell_of(cfg, "rerandomized"),
                layers=[1],
                sae_cfg=run.sae,
                act_cfg=run.activations,
                seed=0,
                tokens_train=train,
                out_dir="g",
                device="cpu",
                init_json=rec,
            )
        with pytest.raises(ValueError, match=match):
            evaluate(cfg, "rerandomized", sae_dir, train, "e.json", "e.csv", init_json=rec)
        with pytest.raises(ValueError, match=match):
            examples(cfg, "rerandomized", sae_dir, train, "x.json", init_json=rec)
        assert not Path("act_bad/manifest.json").exists()
    finally:
        shutil.rmtree(trained)
        shutil.copytree(tmp_path / "trained.bak", trained)
