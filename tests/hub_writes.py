"""The loopback Hub's write side, on plain git: new repositories, commits, branches, LFS objects.

Used by ``tests/fake_hub.py`` (its upload routes). A repository created here is a bare git repo
whose first commit holds the ``.gitattributes`` the Hub writes into every new repo; a commit
applies the Hub's commit operations (add a file, delete a file or a folder) on a branch through a
private index (``git read-tree`` / ``update-index`` / ``write-tree`` / ``commit-tree`` /
``update-ref``), so the branch moves atomically and only if nobody moved it meanwhile.
LFS objects are stored by sha256 until a commit refers to them; committed, they are ordinary blobs
(the read side serves the patterns of ``LFS_PATTERNS`` with their sha256, as the Hub does).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import threading
from pathlib import Path

GITATTRIBUTES = "".join(
    f"{pat} filter=lfs diff=lfs merge=lfs -text\n"
    for pat in ("*.bin", "*.h5", "*.msgpack", "*.parquet", "*.pt", "*.pth", "*.safetensors")
)
_IDENTITY = {
    "GIT_AUTHOR_NAME": "loopback-hub",
    "GIT_AUTHOR_EMAIL": "hub@localhost",
    "GIT_COMMITTER_NAME": "loopback-hub",
    "GIT_COMMITTER_EMAIL": "hub@localhost",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_SYSTEM": os.devnull,
}


class CommitError(Exception):
    """A commit the Hub refuses: ``status`` and the Hub's ``X-Error-Code``."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _git(path: Path, *args: str, data: bytes | None = None, env: dict | None = None) -> str:
    proc = subprocess.run(
        ["git", "-C", str(path), *args],
        input=data,
        capture_output=True,
        check=True,
        env={**os.environ, **_IDENTITY, **(env or {})},
    )
    return proc.stdout.decode().strip()


class LfsStore:
    """Uploaded LFS objects by sha256 (in memory: the tests' files are small)."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __contains__(self, oid: str) -> bool:
        with self._lock:
            return oid in self._objects

    def put(self, oid: str, data: bytes) -> None:
        if hashlib.sha256(data).hexdigest() != oid:
            raise CommitError(400, "BadRequest", f"LFS object {oid}: sha256 mismatch")
        with self._lock:
            self._objects[oid] = data

    def get(self, oid: str) -> bytes:
        with self._lock:
            if oid not in self._objects:
                raise CommitError(422, "LfsObjectMissing", f"LFS object {oid} was never uploaded")
            return self._objects[oid]


def create_repo(path: Path) -> str:
    """A bare repository with the Hub's first commit (``.gitattributes``); returns its sha."""
    path.mkdir(parents=True, exist_ok=False)
    _git(path, "init", "-q", "--bare", "-b", "main")
    return commit(path, "main", {".gitattributes": GITATTRIBUTES.encode()}, [], "initial commit")


def commit(
    path: Path,
    branch: str,
    files: dict[str, bytes | None],
    folders: list[str],
    message: str,
    parent: str | None = None,
) -> str:
    """Commit on ``branch``: ``files`` maps a path to its new bytes (None deletes it), every file
    under each of ``folders`` is deleted. ``parent`` (the commit the client saw) must be the
    branch head when given. Returns the new commit's sha."""
    ref = f"refs/heads/{branch}"
    head = _git(path, "rev-parse", "--verify", "-q", ref) if _has_ref(path, ref) else ""
    if parent and head and parent != head:
        raise CommitError(412, "Conflict", f"parent commit {parent} is not the head of {branch}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        if head:
            _git(path, "read-tree", head, env=env)
        tracked = set(_git(path, "ls-files", env=env).splitlines()) if head else set()
        for folder in folders:
            prefix = folder.rstrip("/") + "/"
            gone = [p for p in tracked if p.startswith(prefix)]
            if not gone:
                raise CommitError(404, "EntryNotFound", f"folder {folder} does not exist")
            for p in gone:
                _git(path, "update-index", "--force-remove", p, env=env)
                tracked.discard(p)
        for name, data in files.items():
            if data is None:
                if name not in tracked:
                    raise CommitError(
                        404, "EntryNotFound", f"A file with this name doesn't exist: {name}"
                    )
                _git(path, "update-index", "--force-remove", name, env=env)
                continue
            oid = _git(path, "hash-object", "-w", "--stdin", data=data)
            _git(path, "update-index", "--add", "--cacheinfo", f"100644,{oid},{name}", env=env)
        tree = _git(path, "write-tree", env=env)
    args = ["commit-tree", tree, "-m", message] + (["-p", head] if head else [])
    new = _git(path, *args)
    _git(path, "update-ref", ref, new, head or "0" * 40)
    return new


def create_branch(path: Path, branch: str, start: str) -> None:
    ref = f"refs/heads/{branch}"
    if _has_ref(path, ref):
        raise CommitError(409, "Conflict", f"Branch {branch} already exists")
    _git(path, "update-ref", ref, start, "0" * 40)


def _has_ref(path: Path, ref: str) -> bool:
    proc = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--verify", "-q", ref],
        capture_output=True,
        env={**os.environ, **_IDENTITY},
    )
    return proc.returncode == 0


def git_blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (what the Hub reports as a regular file's ``oid``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
