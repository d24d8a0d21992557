"""CPU seconds of every job of the toy part, each run alone in a fresh one-thread process.

Usage: python benchmarks/toy_cpu.py RUN_DIR [--configfile config.yaml] [--skip-word2vec]

RUN_DIR is a working directory in which the toy inputs that come from the rest of the DAG exist
(the embedded model's ``results/models/<model>/trained/model.safetensors``, e.g. after
``snakemake results/toy/embeddings/tiny-neox.npy``); the jobs write their outputs under
``RUN_DIR/toy_cpu/``. Each job runs in its own Python process with
one compute thread (as the rules run it), and its user + system CPU time comes from the kernel
(``os.wait4``), so the numbers count the interpreter start and imports, as a rule's job does.
Snakemake's own ``cpu_time`` column samples the process tree and misses the end of short jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from randsae.sections import RunConfig, SharkeyData, check_config
from randsae.sections.base import Section, key_fields, key_of

ROOT = Path(__file__).resolve().parent.parent


def section(sec: Section, cls: type[Section] | None = None) -> str:
    """Python code that rebuilds ``sec`` as a rule's adapter does, from the rule's params
    (``cls``: the section the step takes, when it is a base class of ``sec``'s: only its keys)."""
    cls = cls or type(sec)
    full = sec.to_dict()
    data = {key_of(f): full[key_of(f)] for f in key_fields(cls)}
    return f"{cls.__name__}.from_dict({data!r})"


def jobs(cfg: RunConfig, run_dir: Path, out: Path, word2vec: bool) -> list[tuple[str, str]]:
    """(name, python code) of every toy job of the default targets."""
    from randsae.toy.config import dictionary_sizes, parse_dataset, toy_datasets

    toy = cfg.toy
    common = f"{toy.seed!r}, {toy.test_fraction!r}, {toy.ffn_expansion!r}"
    steps = (
        "from randsae.sections import SharkeyData, ToySAEConfig, TwoDConfig, Word2VecConfig\n"
        "from randsae.toy import steps as S\n"
    )
    found = []
    if toy.two_d.enabled:
        figs = ", ".join(repr(str(out / f"fig3.{e}")) for e in ("pdf", "png", "csv"))
        code = f"S.make_toy_2d({toy.seed!r}, {section(toy.two_d)}, {figs})"
        found.append(("toy_2d", steps + code))
    datasets = toy_datasets(toy)
    vectors: dict[str, str | None] = {}
    for ds in datasets:
        kind, detail = parse_dataset(ds)
        if kind == "sharkey":
            vectors[ds] = None
        elif kind == "embed":
            vectors[ds] = str(out / f"{ds}.npy")
            weights = run_dir / "results" / "models" / str(detail) / "trained" / "model.safetensors"
            m = cfg.models[str(detail)]
            a = (detail, m.source, m.hf_name, str(weights), vectors[ds])
            found.append((f"toy_embeddings {detail}", steps + f"S.make_toy_embeddings(*{a!r})"))
        else:
            vectors[ds] = str(out / f"{ds}.npy")
            if word2vec:
                w = toy.words
                code = (
                    f"S.make_word2vec_vectors({detail!r}, {toy.seed!r}, {section(w.word2vec)}, "
                    f"{w.max_words!r}, {vectors[ds]!r}, {str(out / (ds + '.vocab'))!r})"
                )
                found.append((f"word_vectors {ds}", steps + code))
    for ds in datasets:
        kind, _ = parse_dataset(ds)
        sharkey = section(toy.sharkey, SharkeyData) if kind == "sharkey" else "None"
        gauss = toy.words.gaussian_num_samples if kind not in ("sharkey", "embed") else None
        sweeps = []
        for n in dictionary_sizes(toy, ds, cfg.models):
            csv = str(out / f"sweep_{ds}_n{n}.csv")
            sweeps.append(csv)
            code = (
                f"S.make_toy_sweep({ds!r}, {list(toy.arms)!r}, {n!r}, {common}, {sharkey}, "
                f"{gauss!r}, {section(toy.sae)}, {vectors[ds]!r}, {csv!r})"
            )
            found.append((f"toy_sweep {ds} n{n}", steps + code))
        a = (sweeps, str(out / f"{ds}.csv"), str(out / f"{ds}_summary.csv"))
        found.append((f"toy_summary {ds}", steps + f"S.make_toy_summary(*{a!r})"))
        figs = tuple(str(out / f"{ds}_frontiers.{e}") for e in ("pdf", "png", "csv"))
        a = (str(out / f"{ds}_summary.csv"), *figs)
        found.append((f"toy_frontiers {ds}", steps + f"S.make_toy_frontiers(*{a!r})"))
    if "sharkey" in datasets:
        a = (
            str(out / "sharkey_summary.csv"),
            *(str(out / f"fig4.{e}") for e in ("pdf", "png", "csv")),
        )
        found.append(("toy_fig4", steps + f"S.make_toy_fig4(*{a!r})"))
    summaries = [str(out / f"{ds}_summary.csv") for ds in datasets]
    a = (summaries, *(str(out / f"fig5.{e}") for e in ("pdf", "png", "csv")))
    found.append(("toy_fig5", steps + f"S.make_toy_fig5(*{a!r})"))
    return found


def run(code: str) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``code`` in a fresh one-thread Python process."""
    import time

    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    pre = "import torch\ntorch.set_num_threads(1)\n" if "make_toy_sweep" in code else ""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", pre + code], env=env)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"job failed: {code}")
    return usage.ru_utime + usage.ru_stime, wall


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir")
    ap.add_argument("--configfile", default=str(ROOT / "config.yaml"))
    ap.add_argument("--skip-word2vec", action="store_true")
    args = ap.parse_args(argv)
    cfg = check_config(yaml.safe_load(Path(args.configfile).read_text()))
    run_dir = Path(args.run_dir).resolve()
    out = run_dir / "toy_cpu"
    out.mkdir(parents=True, exist_ok=True)
    total = 0.0
    rows = []
    for name, code in jobs(cfg, run_dir, out, not args.skip_word2vec):
        cpu, wall = run(code)
        total += cpu
        rows.append({"job": name, "cpu_s": round(cpu, 2), "wall_s": round(wall, 2)})
        print(f"{name:40s} {cpu:8.2f} CPU s {wall:8.2f} wall s", flush=True)
    print(f"{'toy total':40s} {total:8.2f} CPU s")
    (out / "toy_cpu.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
