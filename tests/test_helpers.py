"""The shared helpers every stage uses: the device rule and the figure writer.

Run: ``pytest tests/test_helpers.py``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch

from randsae.figures.plotting import save_figure
from randsae.models.neox import resolve_device


def test_resolve_device_one_rule():
    assert resolve_device("cpu") == "cpu"
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="device: unknown device 'tpu0'"):
        resolve_device("tpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:1")


def test_save_figure_writes_formats_and_plotted_data(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([0, 1], [2, 3])
    data = pd.DataFrame({"x": [0, 1], "y": [2, 3]})
    paths = save_figure(fig, data, tmp_path / "fig" / "a.b", ("pdf", "png"))
    assert [p.name for p in paths] == ["a.b.pdf", "a.b.png", "a.b.csv"]
    assert all(p.stat().st_size > 0 for p in paths)
    pd.testing.assert_frame_equal(pd.read_csv(paths[2]), data)
    assert sorted(p.name for p in (tmp_path / "fig").iterdir()) == ["a.b.csv", "a.b.pdf", "a.b.png"]
    assert not plt.fignum_exists(fig.number)  # closed


def test_require_positive_names_the_size():
    from randsae.toy.data import require_positive

    require_positive(a=1, b=3)
    with pytest.raises(ValueError, match="num_dims must be >= 1, got 0"):
        require_positive(num_samples=5, num_dims=0)
