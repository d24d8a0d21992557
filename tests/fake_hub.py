"""A small Hugging Face Hub HTTP server on 127.0.0.1, serving repositories from local git repos.

Point the real clients at it with ``HF_ENDPOINT=fake.url`` (set before ``huggingface_hub`` is
imported: it reads the variable once, into ``huggingface_hub.constants.ENDPOINT``) and an empty
``HF_HOME``. Nothing in the clients is patched.

Layout of ``root``: ``models/{namespace}/{name}`` and ``datasets/{namespace}/{name}``, each a git
repository; branches and tags are the Hub's revisions, a full commit SHA works too.

Routes (the ones ``huggingface_hub`` 2.4, ``transformers`` 5.24 and ``datasets`` 5.2 use):

- ``HEAD|GET /{repo}/resolve/{rev}/{path}`` and ``/datasets/{repo}/resolve/{rev}/{path}``: file
  bytes with ``X-Repo-Commit``, ``ETag`` (git blob id; sha256 for LFS-tracked files, with
  ``X-Linked-Etag``/``X-Linked-Size`` as the Hub sends them), ``Content-Length``,
  ``Accept-Ranges`` and ``Range`` requests (206 + ``Content-Range``; 416 when unsatisfiable);
- ``GET /api/{models|datasets}/{repo}`` and ``.../revision/{rev}``: repo info (``sha``,
  ``siblings``, ``lastModified``/``createdAt`` as ``2023-07-09T22:29:45.000Z``);
- ``GET /api/{type}s/{repo}/tree/{rev}[/{path}]`` (``recursive``, ``expand``);
- ``POST /api/{type}s/{repo}/paths-info/{rev}`` (form fields ``paths``, ``expand``);
- ``GET /api/{type}s/{repo}/refs``.

Write routes (what ``huggingface_hub`` 2.4's ``create_repo``, ``create_branch``,
``upload_file``/``upload_folder``/``create_commit`` and sae-lens's ``upload_saes_to_huggingface``
call; all need an ``Authorization: Bearer`` header, else 401):

- ``POST /api/repos/create`` (409 when the repo exists) and ``POST /api/validate-yaml``;
- ``POST /api/{type}s/{repo}/preupload/{rev}``: upload mode per file, ``lfs`` for the patterns of
  ``LFS_PATTERNS`` (the defaults of a new repo's ``.gitattributes``), ``regular`` otherwise (the
  bytes then travel inline, base64, in the commit), and the remote ``oid`` (sha256 for LFS, the
  git blob id otherwise) so the client drops unchanged files itself;
- ``POST /{repo}.git/info/lfs/objects/batch`` (``basic`` transfer: an upload action only for
  objects the Hub lacks), ``PUT /lfs-objects/{oid}`` and ``POST /lfs-verify``;
- ``POST /api/{type}s/{repo}/commit/{rev}`` (NDJSON: header, ``file``, ``lfsFile``,
  ``deletedFile``, ``deletedFolder``) and ``POST /api/{type}s/{repo}/branch/{branch}``.

The client must not use the Xet protocol, which this server does not speak: set
``HF_HUB_DISABLE_XET=1`` in the uploading process (the Hub itself accepts both).

Faults: ``inject(route, times=1, status=503, match="")`` answers the next ``times`` requests of
``route`` (a ``counts`` key, e.g. ``resolve_get``, ``info``, ``preupload``, ``commit``) whose
path contains ``match`` with ``status`` and ``Retry-After: 0``; ``faults_served`` counts them.

Errors carry the Hub's ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``,
``EntryNotFound``) and ``X-Error-Message`` headers with status 404. Other routes get a plain 404
and are counted under ``counts["unhandled"]`` (their paths in ``unhandled``).

``counts`` holds requests per route (``commit_files``: files added by commits, the count of files
a publish sent; ``lfs_upload``: LFS objects received); ``auth`` counts the ``Authorization`` header schemes seen
(``none`` or ``Bearer``), never the token itself.
"""

from __future__ import annotations

import base64
import collections
import fnmatch
import hashlib
import json
import re
import subprocess
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import hub_writes
from loopback import LoopbackServer

# Files the Hub stores through LFS (the defaults of a new repo's .gitattributes, abridged).
LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth", "*.h5", "*.msgpack", "*.parquet")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")


def hub_time(ts: int) -> str:
    """A Unix time in the Hub's format: ``2023-07-09T22:29:45.000Z``."""
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


class HubError(Exception):
    def __init__(self, code: str, message: str, commit: str | None = None):
        super().__init__(message)
        self.code, self.message, self.commit = code, message, commit


class GitRepo:
    """Read-only access to one git repository (cached per commit / blob)."""

    def __init__(self, path: Path):
        self.path = path
        self._trees: dict[str, list[dict]] = {}
        self._sha256: dict[str, str] = {}
        self._lock = threading.Lock()

    def _git(self, *args: str) -> bytes:
        return subprocess.run(
            ["git", "-C", str(self.path), *args], check=True, capture_output=True
        ).stdout

    def resolve(self, rev: str) -> str | None:
        """Commit SHA of a branch, tag, ``refs/...`` name or full SHA; None if unknown."""
        candidates = [f"refs/heads/{rev}", f"refs/tags/{rev}"]
        if rev.startswith("refs/"):
            candidates.insert(0, rev)
        if _HEX40.match(rev):
            candidates.insert(0, rev)
        for ref in candidates:
            proc = subprocess.run(
                ["git", "-C", str(self.path), "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"],
                capture_output=True,
                text=True,
            )
            if proc.returncode == 0:
                return proc.stdout.strip()
        return None

    def commit_time(self, commit: str) -> int:
        return int(self._git("show", "-s", "--format=%ct", commit).decode().strip())

    def first_commit_time(self) -> int:
        out = self._git("log", "--all", "--reverse", "--format=%ct").decode().split()
        return int(out[0])

    def entries(self, commit: str) -> list[dict]:
        """Every file and directory of a commit: path, type, oid, size."""
        with self._lock:
            if commit in self._trees:
                return self._trees[commit]
        raw = self._git("ls-tree", "-r", "-t", "-l", "-z", commit).decode()
        out = []
        for rec in filter(None, raw.split("\0")):
            meta, path = rec.split("\t", 1)
            _mode, kind, oid, size = meta.split()
            out.append(
                {
                    "type": "file" if kind == "blob" else "directory",
                    "oid": oid,
                    "size": int(size) if kind == "blob" else 0,
                    "path": path,
                }
            )
        with self._lock:
            self._trees[commit] = out
        return out

    def blob(self, oid: str) -> bytes:
        return self._git("cat-file", "blob", oid)

    def sha256(self, oid: str) -> str:
        with self._lock:
            if oid in self._sha256:
                return self._sha256[oid]
        digest = hashlib.sha256(self.blob(oid)).hexdigest()
        with self._lock:
            self._sha256[oid] = digest
        return digest

    def refs(self) -> dict[str, list[dict]]:
        raw = self._git("for-each-ref", "--format=%(refname) %(objectname)").decode()
        out: dict[str, list[dict]] = {"branches": [], "tags": [], "converts": []}
        for line in raw.splitlines():
            ref, sha = line.split()
            if ref.startswith("refs/heads/"):
                kind, name = "branches", ref.removeprefix("refs/heads/")
            elif ref.startswith("refs/tags/"):
                kind, name = "tags", ref.removeprefix("refs/tags/")
            elif ref.startswith("refs/convert/"):
                kind, name = "converts", ref.removeprefix("refs/convert/")
            else:
                continue
            out[kind].append({"name": name, "ref": ref, "targetCommit": sha})
        return out


def is_lfs(path: str) -> bool:
    return any(fnmatch.fnmatch(Path(path).name, pat) for pat in LFS_PATTERNS)


class _Injected(Exception):
    def __init__(self, status: int, retry_after: str):
        self.status, self.retry_after = status, retry_after


class _Denied(Exception):
    pass


class FakeHub(LoopbackServer):
    """Threaded loopback Hub over the git repositories under ``root``."""

    methods = ("HEAD", "GET", "POST", "PUT")
    protocol_version = "HTTP/1.1"  # keep-alive, as the Hub client expects

    def __init__(self, root: str | Path):
        super().__init__()
        self.root = Path(root)
        self.repos: dict[tuple[str, str], GitRepo] = {}
        for kind in ("models", "datasets"):
            for git_dir in sorted((self.root / kind).glob("*/*")):
                if (git_dir / ".git").exists() or (git_dir / "HEAD").exists():
                    repo_id = f"{git_dir.parent.name}/{git_dir.name}"
                    self.repos[(kind[:-1], repo_id)] = GitRepo(git_dir)
        self.counts: collections.Counter = collections.Counter()
        self.auth: collections.Counter = collections.Counter()
        self.unhandled: list[str] = []
        self.faults: list[dict[str, Any]] = []
        self.faults_served: collections.Counter = collections.Counter()
        self.lfs = hub_writes.LfsStore()
        self._write_lock = threading.Lock()

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.auth.clear()
            self.unhandled.clear()
            self.faults_served.clear()

    def inject(
        self, route: str, times: int = 1, status: int = 503, match: str = "", retry_after="0"
    ) -> None:
        """Answer the next ``times`` requests of ``route`` whose path contains ``match`` with
        ``status`` (and ``Retry-After``), before any other handling."""
        with self._lock:
            self.faults.append(
                {
                    "route": route,
                    "times": times,
                    "status": status,
                    "match": match,
                    "retry_after": retry_after,
                }
            )

    # -- HTTP plumbing ---------------------------------------------------------------------------
    def _count(self, route: str, h: BaseHTTPRequestHandler | None = None) -> None:
        with self._lock:
            self.counts[route] += 1
            for fault in self.faults:
                hit = h is not None and fault["match"] in unquote(h.path)
                if fault["route"] == route and fault["times"] > 0 and hit:
                    fault["times"] -= 1
                    self.faults_served[route] += 1
                    raise _Injected(fault["status"], fault["retry_after"])

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
        head: bool = False,
        length: int | None = None,
    ) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body) if length is None else length))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def _json(self, h, payload: Any, headers: dict | None = None, head: bool = False) -> None:
        self._send(h, 200, json.dumps(payload).encode(), headers=headers, head=head)

    def _error(self, h, err: HubError, head: bool = False) -> None:
        headers = {"X-Error-Code": err.code, "X-Error-Message": err.message}
        if err.commit:
            headers["X-Repo-Commit"] = err.commit
        body = json.dumps({"error": err.message}).encode()
        self._send(h, 404, body, headers=headers, head=head)

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        scheme = (h.headers.get("Authorization") or "none").split(" ", 1)[0]
        with self._lock:
            self.auth[scheme] += 1
        split = urlsplit(h.path)
        query = parse_qs(split.query)
        body = b""
        if method in ("POST", "PUT"):
            body = h.rfile.read(int(h.headers.get("Content-Length") or 0))
        head = method == "HEAD"
        try:
            segs = split.path.split("/")[1:]  # raw (still percent-encoded) segments
            if segs and segs[0] == "api":
                self._api(h, method, segs[1:], query, body)
            elif method in ("POST", "PUT"):
                self._lfs(h, method, segs, body)
            else:
                self._resolve(h, method, segs, head)
        except _Injected as fault:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._send(h, fault.status, b'{"error": "injected fault"}', headers=headers, head=head)
        except _Denied:
            self._send(h, 401, b'{"error": "Invalid credentials in Authorization header"}')
        except hub_writes.CommitError as err:
            headers = {"X-Error-Code": err.code, "X-Error-Message": err.message}
            body = json.dumps({"error": err.message}).encode()
            self._send(h, err.status, body, headers=headers, head=head)
        except HubError as err:
            self._error(h, err, head=head)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def _repo(self, kind: str, repo_id: str) -> GitRepo:
        with self._lock:
            repo = self.repos.get((kind, repo_id))
        if repo is None:
            raise HubError("RepoNotFound", "Repository not found")
        return repo

    def _commit(self, repo: GitRepo, rev: str) -> str:
        sha = repo.resolve(rev)
        if sha is None:
            raise HubError("RevisionNotFound", f"Invalid rev id: {rev}")
        return sha

    def _unhandled(self, h, method: str) -> None:
        with self._lock:
            self.counts["unhandled"] += 1
            self.unhandled.append(f"{method} {h.path}")
        self._send(h, 404, b'{"error": "Not Found"}', head=method == "HEAD")

    # -- file downloads --------------------------------------------------------------------------
    def _resolve(self, h, method: str, segs: list[str], head: bool) -> None:
        kind = "model"
        if segs and segs[0] in ("datasets", "spaces"):
            kind, segs = segs[0][:-1], segs[1:]
        if len(segs) < 5 or segs[2] != "resolve" or method == "POST":
            return self._unhandled(h, method)
        repo_id = f"{unquote(segs[0])}/{unquote(segs[1])}"
        rev = unquote(segs[3])
        path = unquote("/".join(segs[4:]))
        self._count("resolve_head" if head else "resolve_get", h)
        repo = self._repo(kind, repo_id)
        commit = self._commit(repo, rev)
        entry = next(
            (e for e in repo.entries(commit) if e["path"] == path and e["type"] == "file"), None
        )
        if entry is None:
            raise HubError("EntryNotFound", "Entry not found", commit=commit)
        data = b"" if head else repo.blob(entry["oid"])
        size = entry["size"]
        headers = {"X-Repo-Commit": commit, "Accept-Ranges": "bytes"}
        if is_lfs(path):
            digest = repo.sha256(entry["oid"])
            headers |= {
                "ETag": f'"{digest}"',
                "X-Linked-Etag": f'"{digest}"',
                "X-Linked-Size": str(size),
            }
        else:
            headers["ETag"] = f'"{entry["oid"]}"'
        ctype = "application/octet-stream"
        rng = h.headers.get("Range")
        if rng:
            span = _parse_range(rng, size)
            if span is None:
                headers["Content-Range"] = f"bytes */{size}"
                return self._send(h, 416, b"", headers=headers, content_type=ctype, head=head)
            start, end = span
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            return self._send(
                h,
                206,
                data[start : end + 1],
                headers=headers,
                content_type=ctype,
                head=head,
                length=end - start + 1,
            )
        self._send(h, 200, data, headers=headers, content_type=ctype, head=head, length=size)

    # -- JSON API ---------------------------------------------------------------------------------
    def _api(self, h, method: str, segs: list[str], query: dict, body: bytes) -> None:
        if method == "POST" and segs == ["repos", "create"]:
            self._count("create_repo", h)
            return self._create_repo(h, json.loads(body))
        if method == "POST" and segs == ["validate-yaml"]:
            self._count("validate_yaml", h)
            return self._validate_yaml(h, json.loads(body))
        if len(segs) < 3 or segs[0] not in ("models", "datasets"):
            return self._unhandled(h, method)
        kind = segs[0][:-1]
        repo_id = f"{unquote(segs[1])}/{unquote(segs[2])}"
        rest = segs[3:]
        if method == "GET" and not rest:
            self._count("info", h)
            return self._info(h, kind, repo_id, "main", query)
        if method == "GET" and len(rest) == 2 and rest[0] == "revision":
            self._count("info", h)
            return self._info(h, kind, repo_id, unquote(rest[1]), query)
        if method == "GET" and rest and rest[0] == "tree" and len(rest) >= 2:
            self._count("tree", h)
            path = unquote("/".join(rest[2:])).strip("/")
            return self._tree(h, kind, repo_id, unquote(rest[1]), path, query)
        if method == "POST" and len(rest) == 2 and rest[0] == "paths-info":
            self._count("paths_info", h)
            form = parse_qs(body.decode())
            return self._paths_info(h, kind, repo_id, unquote(rest[1]), form)
        if method == "GET" and rest == ["refs"]:
            self._count("refs", h)
            return self._json(h, self._repo(kind, repo_id).refs())
        if method == "POST" and len(rest) == 2 and rest[0] in ("preupload", "commit", "branch"):
            self._count(rest[0], h)
            self._require_token(h)
            handler = {
                "preupload": self._preupload,
                "commit": self._commit_ops,
                "branch": self._create_branch,
            }[rest[0]]
            return handler(h, kind, repo_id, unquote(rest[1]), body)
        return self._unhandled(h, method)

    # -- uploads ------------------------------------------------------------------------------------
    def _require_token(self, h) -> None:
        if not (h.headers.get("Authorization") or "").startswith("Bearer "):
            raise _Denied()

    def _create_repo(self, h, payload: dict) -> None:
        self._require_token(h)
        kind = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or 'user'}/{payload['name']}"
        with self._write_lock:
            if (kind, repo_id) in self.repos:
                body = {"error": "You already created this model repo", "url": self._url(repo_id)}
                return self._send(h, 409, json.dumps(body).encode())
            path = self.root / f"{kind}s" / repo_id
            hub_writes.create_repo(path)
            with self._lock:
                self.repos[(kind, repo_id)] = GitRepo(path)
        self._json(h, {"url": self._url(repo_id, kind), "name": repo_id, "id": repo_id})

    def _url(self, repo_id: str, kind: str = "model") -> str:
        return f"{self.url}/{'' if kind == 'model' else kind + 's/'}{repo_id}"

    def _validate_yaml(self, h, payload: dict) -> None:
        import yaml

        content = payload.get("content", "")
        errors = []
        if content.startswith("---"):
            try:
                yaml.safe_load(content.split("---", 2)[1])
            except yaml.YAMLError as err:
                errors.append({"message": str(err)})
        body = json.dumps({"errors": errors, "warnings": []}).encode()
        self._send(h, 400 if errors else 200, body)

    def _remote_oids(self, kind: str, repo_id: str, rev: str) -> tuple[str, dict[str, str]]:
        repo = self._repo(kind, repo_id)
        commit = self._commit(repo, rev)
        oids = {
            e["path"]: repo.sha256(e["oid"]) if is_lfs(e["path"]) else e["oid"]
            for e in repo.entries(commit)
            if e["type"] == "file"
        }
        return commit, oids

    def _preupload(self, h, kind: str, repo_id: str, rev: str, body: bytes) -> None:
        commit, oids = self._remote_oids(kind, repo_id, rev)
        files = [
            {
                "path": f["path"],
                "uploadMode": "lfs" if is_lfs(f["path"]) and f["size"] > 0 else "regular",
                "shouldIgnore": False,
                "oid": oids.get(f["path"]),
            }
            for f in json.loads(body)["files"]
        ]
        self._json(h, {"files": files, "commitOid": commit})

    def _commit_ops(self, h, kind: str, repo_id: str, rev: str, body: bytes) -> None:
        repo = self._repo(kind, repo_id)
        lines = [json.loads(x) for x in body.decode().splitlines() if x.strip()]
        header = next(x["value"] for x in lines if x["key"] == "header")
        files: dict[str, bytes | None] = {}
        folders: list[str] = []
        for item in lines:
            key, value = item["key"], item["value"]
            if key == "file":
                files[value["path"]] = base64.b64decode(value["content"])
            elif key == "lfsFile":
                files[value["path"]] = self.lfs.get(value["oid"])
            elif key == "deletedFile":
                files[value["path"]] = None
            elif key == "deletedFolder":
                folders.append(value["path"])
        with self._write_lock:
            self._commit(repo, rev)  # RevisionNotFound for an unknown branch
            sha = hub_writes.commit(
                repo.path,
                rev,
                files,
                folders,
                header["summary"]
                + ("\n\n" + header["description"] if header.get("description") else ""),
                parent=header.get("parentCommit"),
            )
        with self._lock:
            self.counts["commit_files"] += sum(1 for v in files.values() if v is not None)
        url = f"{self._url(repo_id, kind)}/commit/{sha}"
        self._json(h, {"success": True, "commitOid": sha, "commitUrl": url, "pullRequestUrl": None})

    def _create_branch(self, h, kind: str, repo_id: str, branch: str, body: bytes) -> None:
        repo = self._repo(kind, repo_id)
        start = (json.loads(body or b"{}") or {}).get("startingPoint") or "main"
        with self._write_lock:
            hub_writes.create_branch(repo.path, branch, self._commit(repo, start))
        self._json(h, {})

    def _lfs(self, h, method: str, segs: list[str], body: bytes) -> None:
        """The LFS batch endpoint of a repo, and the upload / verify URLs it hands out."""
        if method == "PUT" and len(segs) == 2 and segs[0] == "lfs-objects":
            self._count("lfs_upload", h)
            self.lfs.put(segs[1], body)
            return self._send(h, 200, b"")
        if method == "POST" and segs == ["lfs-verify"]:
            self._count("lfs_verify", h)
            oid = json.loads(body)["oid"]
            if oid not in self.lfs:
                raise hub_writes.CommitError(404, "EntryNotFound", f"LFS object {oid} missing")
            return self._json(h, {})
        if method == "POST" and segs[-4:] == ["info", "lfs", "objects", "batch"]:
            self._count("lfs_batch", h)
            self._require_token(h)
            objects = []
            for obj in json.loads(body)["objects"]:
                item = {"oid": obj["oid"], "size": obj["size"], "authenticated": True}
                if obj["oid"] not in self.lfs:
                    item["actions"] = {
                        "upload": {"href": f"{self.url}/lfs-objects/{obj['oid']}", "header": {}},
                        "verify": {"href": f"{self.url}/lfs-verify", "header": {}},
                    }
                objects.append(item)
            return self._json(h, {"transfer": "basic", "objects": objects})
        return self._unhandled(h, method)

    def _item(
        self, repo: GitRepo, commit: str, entry: dict, expand: bool, commit_time: int
    ) -> dict:
        item = dict(entry)
        if entry["type"] == "file" and is_lfs(entry["path"]):
            item["lfs"] = {
                "oid": repo.sha256(entry["oid"]),
                "size": entry["size"],
                "pointerSize": 134,
            }
        if expand:
            item["lastCommit"] = {
                "id": commit,
                "title": "Upload",
                "date": hub_time(commit_time),
            }
        return item

    def _info(self, h, kind: str, repo_id: str, rev: str, query: dict) -> None:
        repo = self._repo(kind, repo_id)
        commit = self._commit(repo, rev)
        blobs = query.get("blobs", ["false"])[0].lower() == "true"
        siblings = []
        for e in repo.entries(commit):
            if e["type"] != "file":
                continue
            sib: dict[str, Any] = {"rfilename": e["path"]}
            if blobs:
                sib |= {"size": e["size"], "blobId": e["oid"]}
                if is_lfs(e["path"]):
                    sib["lfs"] = {
                        "sha256": repo.sha256(e["oid"]),
                        "size": e["size"],
                        "pointerSize": 134,
                    }
            siblings.append(sib)
        info: dict[str, Any] = {
            "_id": hashlib.sha1(f"{kind}/{repo_id}".encode()).hexdigest()[:24],
            "id": repo_id,
            "author": repo_id.split("/")[0],
            "sha": commit,
            "lastModified": hub_time(repo.commit_time(commit)),
            "createdAt": hub_time(repo.first_commit_time()),
            "private": False,
            "disabled": False,
            "gated": False,
            "downloads": 0,
            "likes": 0,
            "tags": [],
            "siblings": siblings,
            "cardData": {},
        }
        if kind == "model":
            info |= {"modelId": repo_id, "library_name": "transformers"}
            info["pipeline_tag"] = "text-generation"
        else:
            info |= {"description": "", "citation": ""}
        self._json(h, info)

    def _tree(self, h, kind: str, repo_id: str, rev: str, path: str, query: dict) -> None:
        repo = self._repo(kind, repo_id)
        commit = self._commit(repo, rev)
        recursive = query.get("recursive", ["false"])[0].lower() == "true"
        expand = query.get("expand", ["false"])[0].lower() == "true"
        entries = repo.entries(commit)
        if path and not any(e["path"] == path and e["type"] == "directory" for e in entries):
            raise HubError("EntryNotFound", f"{path} does not exist on {rev}", commit=commit)
        prefix = f"{path}/" if path else ""
        when = repo.commit_time(commit)
        out = []
        for e in entries:
            if not e["path"].startswith(prefix):
                continue
            rel = e["path"][len(prefix) :]
            if not recursive and "/" in rel:
                continue
            out.append(self._item(repo, commit, e, expand, when))
        self._json(h, out)

    def _paths_info(self, h, kind: str, repo_id: str, rev: str, form: dict) -> None:
        repo = self._repo(kind, repo_id)
        commit = self._commit(repo, rev)
        expand = form.get("expand", ["False"])[0].lower() == "true"
        wanted = [p.strip("/") for p in form.get("paths", [])]
        by_path = {e["path"]: e for e in repo.entries(commit)}
        when = repo.commit_time(commit)
        out = [self._item(repo, commit, by_path[p], expand, when) for p in wanted if p in by_path]
        self._json(h, out)


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """First span of a ``bytes=`` Range header as inclusive (start, end); None if unsatisfiable."""
    m = re.match(r"bytes=(\d*)-(\d*)", header.split(",")[0].strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):  # suffix: the last N bytes
        n = int(m.group(2))
        if n == 0 or size == 0:
            return None
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)
