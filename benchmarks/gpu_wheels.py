"""Fetch what ``benchmarks/gpu_suite.py`` needs on an offline GPU machine into one folder.

The GPU machine's image has torch, transformers, huggingface_hub, numpy, pandas, scipy,
matplotlib, tokenizers, pyyaml, jinja2, requests and psutil, but none of the packages below, and
it cannot reach a registry. This script downloads their wheels (CPython 3.12, manylinux x86-64 or
pure Python, the versions this project resolves) and writes the smoke config's corpus, whose
rule needs gensim (a 28 MB wheel, left out):

    python benchmarks/gpu_wheels.py                 # -> .gpu_wheels/ (git-ignored), ~41 MiB
    python benchmarks/gpu_wheels.py --no-sae-lens   # without sae-lens and wandb (~19 MB)

Carry ``.gpu_wheels`` to the GPU machine (the device tool's ``carry``) and run there:

    export PYTHONPATH=$PWD
    python3 benchmarks/gpu_suite.py --wheels .gpu_wheels --smoke-corpus .gpu_wheels/smoke_corpus \\
        --out-dir "$OUT"

The groups were checked by importing each package (and running the smoke DAG) in a virtual
environment that holds only the image's packages and these.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

GROUPS = {
    # eai-sparsify 1.3.3 (imports datasets through its trainer module)
    "sparsify": [
        "eai-sparsify==1.3.3", "natsort==8.4.0", "schedulefree==1.4.1", "simple-parsing==0.1.9",
        "docstring-parser==0.18.0", "datasets==5.2.0", "dill==0.4.1", "multiprocess==0.70.19",
    ],
    # HookedTransformer: the stream, eval and smoke sections
    "transformer_lens": [
        "transformer-lens==3.9.0", "better-abc==0.0.3", "fancy-einsum==0.0.3", "beartype==0.23.1",
        "typeguard==4.6.1",
    ],
    # the smoke DAG (pulp is left out: the suite runs Snakemake with --scheduler greedy)
    "snakemake": [
        "snakemake==9.27.1", "conda-inject==1.3.2", "docutils==0.22.4", "dpath==2.2.0",
        "snakemake-interface-common==1.23.0", "configargparse==1.9.0",
        "snakemake-interface-executor-plugins==9.4.0", "snakemake-interface-logger-plugins==2.1.0",
        "snakemake-interface-report-plugins==1.3.0",
        "snakemake-interface-scheduler-plugins==2.0.2",
        "snakemake-interface-storage-plugins==4.4.1", "humanfriendly==10.0", "sqlmodel==0.0.37",
        "sqlalchemy==2.0.58", "greenlet==3.5.6", "tenacity==9.2.1", "throttler==1.2.3",
        "yte==1.9.4", "gitpython==3.2.1", "gitdb==4.0.12", "smmap==5.0.3", "immutables==0.21",
        "jsonschema==4.26.0", "referencing==0.37.0", "rpds-py==0.30.0",
        "jsonschema-specifications==2025.9.1", "nbformat==5.11.1", "fastjsonschema==2.22.3",
        "jupyter-core==5.9.1", "traitlets==5.15.0", "platformdirs==4.14.9", "smart-open==7.7.1",
        "argparse-dataclass==2.0.0", "pydantic==2.13.4", "pydantic-core==2.46.4",
        "annotated-types==0.7.0", "typing-inspection==0.4.2",
        # the report's tables rule imports randsae.autointerp.llm, which imports anthropic
        "anthropic==2.13.0", "distro==1.9.0", "jiter==0.19.0", "sniffio==1.3.1",
    ],
    # sae-lens's trainer imports wandb, which imports OpenTelemetry
    "sae_lens": [
        "sae-lens==6.54.12", "wandb==0.31.0", "opentelemetry-api==1.45.2",
        "opentelemetry-sdk==1.45.2", "opentelemetry-semantic-conventions==0.66b2",
        "opentelemetry-proto==1.45.2", "opentelemetry-exporter-otlp-proto-http==1.45.2",
        "opentelemetry-exporter-otlp-proto-common==1.45.2", "googleapis-common-protos==1.76.0",
    ],
}  # fmt: skip
SDIST_ONLY = ["connection-pool==0.0.3"]  # pure Python, published as an sdist: built here
PLATFORM = [
    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
    "--abi", "cp312", "--platform", "manylinux_2_28_x86_64", "--platform",
    "manylinux2014_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "any",
]  # fmt: skip
CARRY_LIMIT_MIB = 56  # of the 64 MiB the device tool carries, the repository takes a few


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


def smoke_corpus(out: Path) -> None:
    """The ``corpus`` rule's outputs for configs/smoke.yaml (gensim's bundled test corpus)."""
    import yaml

    sys.path.insert(0, str(ROOT))
    from randsae.data.steps import corpus

    out.mkdir(parents=True, exist_ok=True)
    cfg = yaml.safe_load((ROOT / "configs" / "smoke.yaml").read_text())
    corpus(
        *(str(out / n) for n in ("train.jsonl", "val.jsonl", "meta.json")), cfg["data"], cfg["seed"]
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / ".gpu_wheels"))
    ap.add_argument("--no-sae-lens", action="store_true", help="skip sae-lens and wandb")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    specs = [
        s for g, ss in GROUPS.items() if not (args.no_sae_lens and g == "sae_lens") for s in ss
    ]
    pip("download", "--quiet", "--no-deps", *PLATFORM, "-d", str(out), *specs)
    pip("wheel", "--quiet", "--no-deps", "-w", str(out), *SDIST_ONLY)
    smoke_corpus(out / "smoke_corpus")
    mib = sum(p.stat().st_size for p in out.rglob("*") if p.is_file()) / 2**20
    print(f"{out}: {len(list(out.glob('*.whl')))} wheels + smoke corpus, {mib:.1f} MiB")
    if mib > CARRY_LIMIT_MIB:
        sys.exit(f"more than {CARRY_LIMIT_MIB} MiB: try --no-sae-lens")


if __name__ == "__main__":
    main()
