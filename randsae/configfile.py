"""Config files as documents: canonical key order and overlays (``python -m randsae.configfile``)."""

from __future__ import annotations

from typing import Any


def canonical(obj: Any) -> Any:
    """The same config with every mapping's keys sorted (lists keep their order)."""
    if isinstance(obj, dict):
        return {k: canonical(obj[k]) for k in sorted(obj)}
    if isinstance(obj, list):
        return [canonical(v) for v in obj]
    return obj


# Top-level keys an overlay replaces whole instead of merging into (a scale overlay maps the model
# list onto other repos; merged, the base file's other models would stay in the grid).
OVERLAY_REPLACES = ("models",)


def apply_overlay(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``overlay`` merged in, as ``snakemake --configfile base overlay`` merges
    nested mappings, except that the keys in :data:`OVERLAY_REPLACES` are replaced whole.

    Snakemake 9 merges every nested mapping of a later ``--configfile`` into the earlier one, so
    an overlay cannot drop a model; write the merged file once with
    ``python -m randsae.configfile BASE OVERLAY OUT`` and pass it as the one ``--configfile``.
    """
    import copy

    def merge(a: Any, b: Any) -> Any:
        if not isinstance(a, dict) or not isinstance(b, dict):
            return copy.deepcopy(b)
        out = copy.deepcopy(a)
        for k, v in b.items():
            out[k] = merge(out.get(k), v) if k in out else copy.deepcopy(v)
        return out

    merged = merge(base, {k: v for k, v in overlay.items() if k not in OVERLAY_REPLACES})
    for key in OVERLAY_REPLACES:
        if key in overlay:
            merged[key] = copy.deepcopy(overlay[key])
    return merged


def main(argv: list[str] | None = None) -> None:
    """``python -m randsae.configfile BASE OVERLAY OUT``: write BASE with OVERLAY applied."""
    import argparse
    from pathlib import Path

    import yaml

    ap = argparse.ArgumentParser(description="Apply a config overlay (see apply_overlay).")
    ap.add_argument("base")
    ap.add_argument("overlay")
    ap.add_argument("out")
    args = ap.parse_args(argv)
    base = yaml.safe_load(Path(args.base).read_text())
    overlay = yaml.safe_load(Path(args.overlay).read_text())
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; not overwriting it")
    text = f"# {args.base} + overlay {args.overlay} (python -m randsae.configfile)\n"
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text + yaml.safe_dump(apply_overlay(base, overlay), sort_keys=False))
    tmp.replace(out)


if __name__ == "__main__":
    main()
