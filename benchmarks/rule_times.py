"""Per-rule time breakdown of a finished run, from its ``benchmark:`` files.

Usage: python benchmarks/rule_times.py [RUN_DIR] [--csv OUT.csv]

RUN_DIR is the run's working directory (default: .), the one holding ``benchmarks/runs/``.
Prints, per rule, the number of jobs, total / mean / max seconds, CPU seconds, peak RSS and the
share of all job-seconds, sorted by total time, then the run's wall span.
"""

from __future__ import annotations

import argparse

from randsae.tables.rule_times import format_report, read_benchmarks, rule_table


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", nargs="?", default=".")
    ap.add_argument("--csv", help="also write the per-rule table here")
    args = ap.parse_args(argv)
    jobs = read_benchmarks(args.run_dir)
    print(format_report(jobs))
    if args.csv:
        rule_table(jobs).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()
