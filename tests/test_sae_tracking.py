"""SAE-training progress and tracking (sae.tracking), offline: TensorBoard files, W&B offline."""

from __future__ import annotations

import csv
import io
import logging
import struct
from pathlib import Path

import numpy as np
import pytest
from test_sae_train import D_IN, make_source, planted_acts, sae_cfg, write_cache

from randsae.sae import tracking as trk
from randsae.sae.train import train_sae, train_sae_group


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return write_cache(tmp_path_factory.mktemp("cache"), planted_acts(8192))


def _curve(path: Path) -> list[dict[str, float]]:
    return [
        {k: float(v) for k, v in r.items()} for r in csv.DictReader(path.read_text().splitlines())
    ]


def test_tensorboard_event_files_hold_the_training_curve(cache: Path, tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    cfg = sae_cfg(n_tokens=4096)
    train_sae(
        make_source(cache, cfg),
        d_in=D_IN,
        cfg=cfg,
        seed=1,
        out_dir=tmp_path / "sae",
        log_csv=tmp_path / "curve.csv",
        tracking="tensorboard",
        tracking_dir=tmp_path / "tb",
        progress=False,
    )
    rows = _curve(tmp_path / "curve.csv")
    runs = [p for p in (tmp_path / "tb").iterdir() if p.is_dir()]
    assert [p.name for p in runs] == ["sae"] and list(runs[0].glob("events.out.tfevents.*"))
    ea = EventAccumulator(str(runs[0]))
    ea.Reload()
    assert {f"train/{m}" for m in trk.METRICS} <= set(ea.Tags()["scalars"])
    for m in ("fvu", "l0", "dead_frac", "lr"):
        ev = ea.Scalars(f"train/{m}")
        assert [e.step for e in ev] == [int(r["step"]) for r in rows] == list(range(1, 17))
        np.testing.assert_allclose([e.value for e in ev], [r[m] for r in rows], rtol=1e-6)


def _wandb_records(run_file: Path) -> list:
    """Records of a W&B ``.wandb`` file (LevelDB log blocks of 32 KiB, 7-byte record headers)."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = run_file.read_bytes()
    assert data[:4] == b":W&B"
    block, pos, out, buf = 32768, 7, [], b""
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # block trailer padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        payload, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 1:
            out.append(payload)
        elif kind in (2, 3):
            buf += payload
        elif kind == 4:
            out.append(buf + payload)
            buf = b""
    records = []
    for raw in out:
        rec = pb.Record()
        rec.ParseFromString(raw)
        records.append(rec)
    return records


class _TwoLayers:
    """A two-layer source (what the stream rule feeds) over one cached layer, shifted."""

    def __init__(self, inner) -> None:
        self.inner, self.d_in, self.batch_size = inner, inner.d_in, inner.batch_size

    def __next__(self):
        x = next(self.inner)
        return {0: x, 1: x * 2.0 + 1.0}


@pytest.mark.slow  # starts W&B's offline service process
def test_wandb_offline_run_holds_every_layer_curve(
    cache: Path, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    cfg = sae_cfg(n_tokens=2048)
    train_sae_group(
        _TwoLayers(make_source(cache, cfg)),
        d_in=D_IN,
        cfg=cfg,
        seeds={0: 1, 1: 2},
        out_dirs={L: tmp_path / f"l{L}" for L in (0, 1)},
        log_csvs={L: tmp_path / f"l{L}.csv" for L in (0, 1)},
        tracking="wandb",
        tracking_dir=tmp_path / "wb",
        run_name="m/trained/group0-1",
        progress=False,
    )
    (run_file,) = (tmp_path / "wb").glob("wandb/offline-run-*/run-*.wandb")
    records = _wandb_records(run_file)
    (run,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run.display_name == "m/trained/group0-1"
    history = [
        {(i.key or "/".join(i.nested_key)): float(i.value_json) for i in r.history.item}
        for r in records
        if r.WhichOneof("record_type") == "history"
    ]
    assert [int(h["_step"]) for h in history] == list(range(1, 9))
    for L in (0, 1):
        rows = _curve(tmp_path / f"l{L}.csv")
        for m in ("fvu", "l0", "dead_frac", "lr"):
            np.testing.assert_allclose([h[f"layer{L}/{m}"] for h in history], [r[m] for r in rows])


def test_progress_bar_writes_plain_lines_to_a_log(cache: Path, tmp_path: Path, monkeypatch, caplog):
    monkeypatch.setattr(trk, "LOG_INTERVAL_S", 0.0)
    monkeypatch.setattr("sys.stderr", io.StringIO())  # not a tty, like a rule's log file
    cfg = sae_cfg(n_tokens=4096)
    with caplog.at_level(logging.INFO, logger="randsae.progress"):
        train_sae(
            make_source(cache, cfg),
            d_in=D_IN,
            cfg=cfg,
            seed=1,
            out_dir=tmp_path / "s",
            run_name="m",
        )
    lines = [r.getMessage() for r in caplog.records if r.name == "randsae.progress"]
    text = "\n".join(lines)
    assert "\r" not in text and len(lines) >= 2
    last = lines[-1]
    assert last.startswith("m: 100%") and "4.10k/4.10k" in last, last
    for part in ("tok/s", "fvu=", "l0=", "dead="):
        assert part in last, last


def test_tracking_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="sae.tracking must be one of none|tensorboard|wandb"):
        trk.make_tracker("mlflow", "x", [0])
    with pytest.raises(ValueError, match="needs a tracking directory"):
        trk.make_tracker("tensorboard", None, [0])
    t = trk.make_tracker("none", None, [0])
    t.log_step(1, {0: dict.fromkeys(trk.METRICS, 0.0)})
    t.close()


def test_postfix_summarises_layers() -> None:
    rows = {
        0: {"fvu": 0.2, "l0": 30.0, "dead_frac": 0.1},
        1: {"fvu": 0.4, "l0": 32.0, "dead_frac": 0.3},
    }
    assert trk.postfix(rows) == {"fvu": "0.3000", "l0": "31.0", "dead": "0.300"}
