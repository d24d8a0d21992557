"""Print a run's claims table (results/tables/claims.csv) as Markdown, for the README section
"What the embedded default finds".

Usage: python benchmarks/claims_summary.py RUN_DIR_OR_CLAIMS_CSV [--title TITLE] [--digits 3]

A run directory is read at ``results/tables/claims.csv``; a ``train_model`` metrics file next to
it (``results/models/*/trained/metrics.json``) adds the trained model's validation loss against
the unigram baseline to the heading.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from randsae.tables.claims import markdown_table


def claims_markdown(path: str | Path, title: str | None = None, digits: int = 3) -> str:
    """The Markdown block: optional heading, model-loss line, verdict counts and the table."""
    path = Path(path)
    run_dir = path if path.is_dir() else path.parent.parent.parent
    csv = path / "results" / "tables" / "claims.csv" if path.is_dir() else path
    df = pd.read_csv(csv)
    out = [f"### {title}\n"] if title else []
    for m in sorted((run_dir / "results" / "models").glob("*/trained/metrics.json")):
        rec = json.loads(m.read_text())
        out.append(
            f"Trained model `{m.parent.parent.name}`: {rec.get('n_params', 0) / 1e6:.2f} M "
            f"parameters, validation loss {rec['val_loss']:.2f} nats (unigram "
            f"{rec['unigram_val_loss']:.2f}) after {rec.get('train_tokens', 0) / 1e6:.2f} M "
            "tokens.\n"
        )
    counts = df["verdict"].value_counts()
    out.append(
        ", ".join(f"{counts.get(v, 0)} {v}" for v in ("holds", "does not hold"))
        + f", {counts.get('not testable at this scale', 0)} not testable at this scale.\n"
    )
    out.append(markdown_table(df, digits=digits))
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", help="a run directory or a claims.csv")
    ap.add_argument("--title", default=None)
    ap.add_argument("--digits", type=int, default=3)
    args = ap.parse_args()
    print(claims_markdown(args.path, args.title, args.digits))


if __name__ == "__main__":
    main()
