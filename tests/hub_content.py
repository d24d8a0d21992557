"""Build the loopback Hub's content: tiny Pythia repos and the RedPajama sample's layout.

    python tests/hub_content.py OUT_DIR            # build the git repositories under OUT_DIR
    python tests/hub_content.py OUT_DIR --serve    # build, then serve them (prints HF_ENDPOINT)
    python tests/hub_content.py OUT_DIR --serve --no-build   # serve a tree built before

Under ``OUT_DIR``:

- ``models/EleutherAI/pythia-70m-deduped`` and ``models/EleutherAI/pythia-160m-deduped``: tiny
  GPT-NeoX models (the real ``GPTNeoXConfig``/``GPTNeoXForCausalLM``; rotary on a quarter of each
  head, parallel residual, untied embeddings, vocab padded past the tokenizer's as Pythia's is).
  Branch ``step0`` holds the weights at initialization, branch ``main`` the same model after a
  short training run on the embedded corpus. Both carry the tokenizer files (a byte-level BPE
  trained on that corpus; id 0 is ``<|endoftext|>`` as in Pythia).
- ``datasets/togethercomputer/RedPajama-Data-1T-Sample``: the real repo's layout, a loading
  script ``RedPajama-Data-1T-Sample.py`` plus one ``{source}_sample.jsonl`` per source in the
  script's order, filled with the embedded corpus (gensim's Wikipedia sample and Lee corpus) cut
  into 11 contiguous parts. Rows are ``{"text": ..., "meta": {...}}`` like the real files.

Everything is seeded and committed with fixed dates, so commit SHAs repeat for the same library
versions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DATASET_REPO = "togethercomputer/RedPajama-Data-1T-Sample"
# The loading script's source files, in its order (one train split, files read one after another).
DATA_FILES = [
    "arxiv_sample.jsonl",
    "book_sample.jsonl",
    "c4_sample.jsonl",
    "cc_2019-30_sample.jsonl",
    "cc_2020-05_sample.jsonl",
    "cc_2021-04_sample.jsonl",
    "cc_2022-05_sample.jsonl",
    "cc_2023-06_sample.jsonl",
    "github_sample.jsonl",
    "stackexchange_sample.jsonl",
    "wikipedia_sample.jsonl",
]

# Tiny stand-ins under the official names: (layers, d_model, heads, d_mlp).
MODELS: dict[str, dict[str, int]] = {
    "EleutherAI/pythia-70m-deduped": {"n_layers": 2, "d_model": 32, "n_heads": 4, "d_mlp": 128},
    "EleutherAI/pythia-160m-deduped": {"n_layers": 3, "d_model": 48, "n_heads": 3, "d_mlp": 192},
}
# Rotary covers a quarter of each head (rotary_pct 0.25) and must come out even: head width 8 or
# 16 gives 2 or 4 rotary dimensions (an odd count fails in TransformerLens' rotate-half).
TOKENIZER_VOCAB = 1000  # tokens in the tokenizer
MODEL_VOCAB = 1024  # embedding rows (Pythia pads 50,277 tokens to 50,304 the same way)
N_CTX = 128
TRAIN_STEPS = 30
SEED = 1234

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "hub-content",
    "GIT_AUTHOR_EMAIL": "hub-content@localhost",
    "GIT_COMMITTER_NAME": "hub-content",
    "GIT_COMMITTER_EMAIL": "hub-content@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
}

_SCRIPT = '''"""RedPajama 1T sample (loopback test copy): one train split, the source files in order."""

import json

import datasets

_FILES = {files}


class RedPajama1TSample(datasets.GeneratorBasedBuilder):
    BUILDER_CONFIGS = [datasets.BuilderConfig(name="plain_text", version=datasets.Version("1.0.0"))]

    def _info(self):
        return datasets.DatasetInfo(
            features=datasets.Features(
                {{"text": datasets.Value("string"), "meta": datasets.Value("string")}}
            )
        )

    def _split_generators(self, dl_manager):
        paths = dl_manager.download_and_extract(_FILES)
        return [datasets.SplitGenerator(name=datasets.Split.TRAIN, gen_kwargs={{"paths": paths}})]

    def _generate_examples(self, paths):
        key = 0
        for path in paths:
            with open(path, encoding="utf-8") as f:
                for line in f:
                    row = json.loads(line)
                    meta = row.get("meta", {{k: v for k, v in row.items() if k != "text"}})
                    yield key, {{"text": row["text"], "meta": json.dumps(meta)}}
                    key += 1
'''


def _git(repo: Path, *args: str, date: str | None = None) -> str:
    env = dict(os.environ) | _GIT_ENV
    if date is not None:
        env |= {"GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def _commit(repo: Path, message: str, date: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, date=date)
    return _git(repo, "rev-parse", "HEAD")


def _new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=False)
    _git(path, "init", "-q", "-b", "main")
    return path


def build_tokenizer(texts: list[str], out_dir: Path) -> None:
    """Byte-level BPE in Pythia's conventions (id 0 = EOS/BOS, id 1 = padding), HF files."""
    from randsae.data.tokenizer import train_bpe

    train_bpe(texts, TOKENIZER_VOCAB, out_dir)


def neox_config(spec: dict[str, int]) -> Any:
    from transformers import GPTNeoXConfig

    return GPTNeoXConfig(
        vocab_size=MODEL_VOCAB,
        hidden_size=spec["d_model"],
        num_hidden_layers=spec["n_layers"],
        num_attention_heads=spec["n_heads"],
        intermediate_size=spec["d_mlp"],
        hidden_act="gelu",
        rotary_pct=0.25,
        rotary_emb_base=10000,
        max_position_embeddings=N_CTX,
        initializer_range=0.02,
        layer_norm_eps=1e-5,
        use_parallel_residual=True,
        tie_word_embeddings=False,
        bos_token_id=0,
        eos_token_id=0,
        architectures=["GPTNeoXForCausalLM"],
    )


def legacy_config_json(spec: dict[str, int]) -> str:
    """config.json in the form the Pythia repos hold (written by transformers 4.24: ``rotary_pct``
    and ``rotary_emb_base`` rather than today's ``rope_parameters``)."""
    cfg = {
        "architectures": ["GPTNeoXForCausalLM"],
        "bos_token_id": 0,
        "eos_token_id": 0,
        "hidden_act": "gelu",
        "hidden_size": spec["d_model"],
        "initializer_range": 0.02,
        "intermediate_size": spec["d_mlp"],
        "layer_norm_eps": 1e-05,
        "max_position_embeddings": N_CTX,
        "model_type": "gpt_neox",
        "num_attention_heads": spec["n_heads"],
        "num_hidden_layers": spec["n_layers"],
        "rotary_emb_base": 10000,
        "rotary_pct": 0.25,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
        "transformers_version": "4.24.0",
        "use_cache": True,
        "use_parallel_residual": True,
        "vocab_size": MODEL_VOCAB,
    }
    return json.dumps(cfg, indent=2) + "\n"


def _save(model: Any, repo: Path, spec: dict[str, int]) -> None:
    model.save_pretrained(repo)
    (repo / "config.json").write_text(legacy_config_json(spec))
    (repo / "generation_config.json").unlink(missing_ok=True)


def _train(model: Any, tokens: Any, seed: int) -> float:
    """A short AdamW run on the corpus (the ``main`` branch's weights); returns the last loss."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    loss = torch.tensor(float("nan"))
    for _ in range(TRAIN_STEPS):
        starts = torch.randint(0, len(tokens) - 65, (8,), generator=gen)
        batch = torch.stack([tokens[s : s + 64] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    return float(loss.detach())


def build_model_repo(
    path: Path, spec: dict[str, int], tok_dir: Path, tokens: Any, seed: int
) -> dict[str, str]:
    """Git repo with branch ``step0`` (initial weights) and ``main`` (briefly trained)."""
    import shutil

    import torch
    from transformers import GPTNeoXForCausalLM

    repo = _new_repo(path)
    torch.manual_seed(seed)
    model = GPTNeoXForCausalLM(neox_config(spec)).eval()
    for f in tok_dir.iterdir():
        shutil.copy(f, repo / f.name)
    (repo / "README.md").write_text(f"# {path.parent.name}/{path.name} (tiny loopback copy)\n")
    _save(model, repo, spec)
    step0 = _commit(repo, "step0 weights", "2023-01-01T00:00:00+00:00")
    _git(repo, "branch", "step0")
    loss = _train(model, tokens, seed)
    _save(model, repo, spec)
    main = _commit(repo, f"trained weights (loss {loss:.3f})", "2023-04-03T00:00:00+00:00")
    return {"step0": step0, "main": main}


def dataset_rows(docs: list[dict[str, str]]) -> dict[str, list[dict[str, Any]]]:
    """The corpus cut into 11 contiguous parts, one per source file (in the script's order)."""
    n = len(docs)
    bounds = [round(i * n / len(DATA_FILES)) for i in range(len(DATA_FILES) + 1)]
    out = {}
    for i, name in enumerate(DATA_FILES):
        source = name.removesuffix("_sample.jsonl")
        out[name] = [
            {"text": d["text"], "meta": {"source": source, "id": d["id"]}}
            for d in docs[bounds[i] : bounds[i + 1]]
        ]
    return out


def build_dataset_repo(path: Path, docs: list[dict[str, str]]) -> str:
    repo = _new_repo(path)
    (repo / "README.md").write_text(
        "# RedPajama-Data-1T-Sample (loopback test copy built from the embedded corpus)\n"
    )
    (repo / f"{path.name}.py").write_text(_SCRIPT.format(files=json.dumps(DATA_FILES, indent=4)))
    for name, rows in dataset_rows(docs).items():
        with open(repo / name, "w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return _commit(repo, "Upload the sample", "2023-04-17T00:00:00+00:00")


def build_hub(out_dir: str | Path) -> dict[str, Any]:
    """Build every repository under ``out_dir``; returns {repo id: {revision: commit sha}}."""
    import numpy as np
    import torch

    from randsae.data.corpus import gensim_documents
    from randsae.seeds import stable_seed

    out = Path(out_dir)
    docs, _ = gensim_documents()
    texts = [d["text"] for d in docs]
    commits: dict[str, Any] = {}
    commits[DATASET_REPO] = {"main": build_dataset_repo(out / "datasets" / DATASET_REPO, docs)}
    with tempfile.TemporaryDirectory() as tmp:
        tok_dir = Path(tmp) / "tokenizer"
        build_tokenizer(texts, tok_dir)
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(tok_dir))
        ids = tok("\n\n".join(texts[:20]), add_special_tokens=False)["input_ids"][:50_000]
        tokens = torch.from_numpy(np.asarray(ids, dtype=np.int64))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for name, spec in MODELS.items():
                seed = stable_seed(SEED, "hub-content", name)
                commits[name] = build_model_repo(out / "models" / name, spec, tok_dir, tokens, seed)
        finally:
            torch.set_num_threads(threads)
    (out / "commits.json").write_text(json.dumps(commits, indent=1))
    return commits


def main(argv: list[str]) -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--serve", action="store_true", help="serve the repos on 127.0.0.1")
    ap.add_argument("--no-build", action="store_true", help="serve an OUT_DIR built before")
    args = ap.parse_args(argv)
    if not args.no_build:
        print(json.dumps(build_hub(args.out_dir), indent=1))
    if args.serve:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from fake_hub import FakeHub

        hub = FakeHub(args.out_dir).start()
        print(f"HF_ENDPOINT={hub.url}", flush=True)
        try:
            hub.thread.join()
        except KeyboardInterrupt:
            hub.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
