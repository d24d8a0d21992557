"""File helpers shared by every stage: atomic writes, sha256 digests, JSON read/write.

Outputs are written to a temporary file in the same directory and renamed over the target
(``os.replace``), so a killed job never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block succeeds.

    The caller writes the temporary file by any means (``np.save``, ``torch.save``, ``to_csv``).
    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def write_csv(df: Any, path: str | os.PathLike) -> None:
    """Write a pandas DataFrame as CSV (no index) through :func:`atomic_path`."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def to_data(obj: Any, *, nan_to_none: bool = False) -> Any:
    """Plain JSON data from mappings (Snakemake Namedlists too), sequences, numpy and torch values.

    Arrays become lists and numpy/torch scalars Python numbers; ``nan_to_none`` writes NaN as
    ``null`` (strict JSON), otherwise NaN stays a float.
    """
    if isinstance(obj, (str, bytes)) or obj is None or isinstance(obj, bool):
        return obj
    if isinstance(obj, dict) or (hasattr(obj, "items") and callable(obj.items)):
        return {str(k): to_data(v, nan_to_none=nan_to_none) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_data(v, nan_to_none=nan_to_none) for v in obj]
    if hasattr(obj, "tolist") and callable(obj.tolist):  # numpy arrays/scalars, torch tensors
        return to_data(obj.tolist(), nan_to_none=nan_to_none)
    if isinstance(obj, float) and nan_to_none and math.isnan(obj):
        return None
    return obj


def dumps_json(obj: Any, *, indent: int | None = 1, sort_keys: bool = False) -> str:
    return json.dumps(to_data(obj), indent=indent, sort_keys=sort_keys, allow_nan=True)


def write_json(
    path: str | os.PathLike, obj: Any, *, indent: int | None = 1, sort_keys: bool = False
) -> None:
    """Atomic JSON write of ``obj`` (converted with :func:`to_data`)."""
    atomic_write_text(path, dumps_json(obj, indent=indent, sort_keys=sort_keys))


def read_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike, chunk: int = CHUNK) -> str:
    """Hex sha256 of a whole file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
