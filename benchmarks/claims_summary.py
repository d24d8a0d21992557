"""Print a run's claims table (results/tables/claims.csv) as Markdown, or write it into
docs/results.md. The count line gives every verdict separately (holds, contradicted,
inconclusive, not testable, circular).

Usage:
    python benchmarks/claims_summary.py RUN_DIR_OR_CLAIMS_CSV [--title TITLE] [--digits 3]
    python benchmarks/claims_summary.py RUN_DIR --title "config.yaml (embedded default)" \
        --write docs/results.md

A run directory is read at ``results/tables/claims.csv``; a ``train_model`` metrics file next to
it (``results/models/*/trained/metrics.json``) adds the trained model's validation loss against
the unigram baseline. With ``--write``, the block of ``--title`` in that file (between
``<!-- claims: TITLE -->`` and ``<!-- claims: end -->``) is replaced by the run's block, which
also names the run: its git commit when the run directory is a clone, and the job count and
elapsed time of its last complete Snakemake log.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
from pathlib import Path

import pandas as pd

from randsae.tables.claims import markdown_table
from randsae.tables.verdicts import VERDICTS

END = "<!-- claims: end -->"


def begin_marker(title: str) -> str:
    return f"<!-- claims: {title} -->"


def run_provenance(run_dir: Path) -> str | None:
    """ "From commit `abc1234` (N jobs, H:MM:SS elapsed)": what names the run, from its git
    checkout and its last complete Snakemake log (None when neither is there)."""
    parts = []
    try:
        commit = subprocess.run(
            ["git", "-C", str(run_dir), "rev-parse", "--short=7", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        parts.append(f"commit `{commit}`")
    except (subprocess.CalledProcessError, FileNotFoundError):
        pass
    for log in sorted((run_dir / ".snakemake" / "log").glob("*.snakemake.log"), reverse=True):
        text = log.read_text(errors="replace")
        done = re.search(r"(\d+) of \1 steps \(100%\) done", text)
        took = re.search(r"Elapsed time: (\S+)", text)
        if done:
            took_s = f", {took.group(1).split('.')[0]} elapsed" if took else ""
            parts.append(f"{done.group(1)} jobs{took_s} (`{log.name}`)")
            break
    return "From " + ", ".join(parts) + "." if parts else None


def claims_markdown(path: str | Path, title: str | None = None, digits: int = 3) -> str:
    """The Markdown block: optional heading, the run, model-loss line, verdict counts, table."""
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent.parent.parent
    csv = path / "results" / "tables" / "claims.csv" if path.is_dir() else path
    df = pd.read_csv(csv)
    out = [f"### {title}\n"] if title else []
    where = run_provenance(run_dir) if path.is_dir() else None
    if where:
        out.append(where + "\n")
    for m in sorted((run_dir / "results" / "models").glob("*/trained/metrics.json")):
        rec = json.loads(m.read_text())
        out.append(
            f"Trained model `{m.parent.parent.name}`: {rec.get('n_params', 0) / 1e6:.2f} M "
            f"parameters, validation loss {rec['val_loss']:.2f} nats (unigram "
            f"{rec['unigram_val_loss']:.2f}) after {rec.get('train_tokens', 0) / 1e6:.2f} M "
            "tokens.\n"
        )
    counts = df["verdict"].value_counts()
    unknown = sorted(set(counts.index) - set(VERDICTS))
    if unknown:
        raise ValueError(f"{csv}: unknown verdicts {unknown} (expected {list(VERDICTS)})")
    out.append(", ".join(f"{counts.get(v, 0)} {v}" for v in VERDICTS) + ".\n")
    out.append(markdown_table(df, digits=digits))
    return "\n".join(out)


def write_block(doc: str | Path, title: str, block: str) -> None:
    """Replace ``title``'s block in ``doc`` (it must have the markers: a typo in a title never
    appends a second table)."""
    doc = Path(doc)
    text = doc.read_text()
    begin = begin_marker(title)
    i = text.find(begin)
    if i < 0:
        raise ValueError(f"{doc}: no block {begin!r} (add it, followed by {END!r})")
    j = text.find(END, i)
    if j < 0:
        raise ValueError(f"{doc}: block {begin!r} has no {END!r}")
    doc.write_text(text[: i + len(begin)] + "\n" + block.rstrip("\n") + "\n" + text[j:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a run directory or a claims.csv")
    ap.add_argument("--title", default=None)
    ap.add_argument("--digits", type=int, default=3)
    ap.add_argument("--write", default=None, help="replace --title's block in this Markdown file")
    args = ap.parse_args()
    if args.write and not args.title:
        ap.error("--write needs --title (the block to replace)")
    block = claims_markdown(args.path, args.title, args.digits)
    if args.write:
        write_block(args.write, args.title, block)
    else:
        print(block)


if __name__ == "__main__":
    main()
