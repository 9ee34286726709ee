"""Where experiments live: a local directory, a network file system, or a URI through Ray's
storage layer (pyarrow filesystems: s3://, gs://, ...). A multi-node run needs storage that every
node reaches, and a local disk is refused there before any trial starts."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs

from tune_mnist.core.errors import InputError

# File system types that other machines can see too (from /proc/mounts).
SHARED_FS_TYPES = {
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "lustre",
    "gpfs",
    "beegfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "fuse.sshfs",
    "fuse.s3fs",
    "fuse.gcsfuse",
    "fuse.goofys",
    "fuse.juicefs",
    "fuse.mountpoint-s3",
    "fuse.rclone",
    "fuse.blobfuse2",
    "9p",
    "virtiofs",
    "efs",
    "weka",
    "fuse.weka",
}


def is_uri(path: str | os.PathLike) -> bool:
    return "://" in str(path)


def storage_root(path: str) -> str:
    """Absolute and writable (Ray rejects relative paths, and an unwritable one fails late)."""
    if is_uri(path):
        return path
    root = Path(path).expanduser().resolve()
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            f"Storage path {root} cannot be written ({exc.strerror}): "
            "pass --storage-path with a directory you can write to."
        ) from None
    return str(root)


def filesystem_type(path: str, mounts: str = "/proc/mounts") -> str:
    """The type of the file system holding ``path`` (the longest matching mount point)."""
    best, kind = "", "unknown"
    try:
        lines = Path(mounts).read_text().splitlines()
    except OSError:
        return kind
    real = os.path.realpath(path)
    for line in lines:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (real == point or real.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
            best, kind = point, fields[2]
    return kind


def check_shared(storage: str, nodes: int, declared_shared: bool) -> None:
    """Refuse a node-local storage path when the trials may run on other nodes."""
    if nodes <= 1 or is_uri(storage) and not storage.startswith("file://") or declared_shared:
        return
    kind = filesystem_type(storage)
    if kind in SHARED_FS_TYPES:
        return
    raise InputError(
        f"Storage path {storage} is on this node's own disk ({kind}), but the Ray cluster has {nodes} "
        "nodes whose trials could not write there: pass --storage-path on shared storage (an NFS "
        "mount, s3://bucket/path, gs://bucket/path), or add --shared-storage if every node mounts "
        "this path."
    )


class Location:
    """A directory tree on a local disk or behind a URI, through one pyarrow file system (as Ray's
    storage layer reaches it), so that local paths and s3://, gs://... work alike."""

    def __init__(self, path: str | os.PathLike) -> None:
        text = str(path)
        if is_uri(text):
            try:
                self.fs, self.root = pafs.FileSystem.from_uri(text)
            except (ValueError, OSError) as exc:
                raise InputError(
                    f"Cannot open storage URI {text} ({exc}): check the URI and its credentials, "
                    "or use a local directory."
                ) from None
            self.local = isinstance(self.fs, pafs.LocalFileSystem)
        else:
            self.fs, self.root, self.local = pafs.LocalFileSystem(), str(Path(text).expanduser().resolve()), True
        self.display = text if is_uri(text) else self.root

    def join(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def kind(self, path: str | None = None) -> pafs.FileType:
        return self.fs.get_file_info(path or self.root).type

    def children(self, path: str | None = None) -> list[pafs.FileInfo]:
        return sorted(self.fs.get_file_info(pafs.FileSelector(path or self.root)), key=lambda i: i.base_name)

    def read_text(self, path: str | None = None) -> str:
        with self.fs.open_input_stream(path or self.root) as stream:
            return stream.read().decode("utf-8", errors="replace")

    def read_json(self, path: str | None = None) -> dict[str, Any] | None:
        """A JSON object file (params.json, the run options, the confirmation log); None where it is
        missing or holds no JSON object, for the caller to say what that means."""
        try:
            value = json.loads(self.read_text(path))
        except (json.JSONDecodeError, OSError):
            return None
        return value if isinstance(value, dict) else None

    def write_text(self, text: str, path: str | None = None) -> None:
        path = path or self.root
        self.fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with self.fs.open_output_stream(path) as stream:
            stream.write(text.encode())

    def local_dir(self, path: str, scratch: str | None = None) -> str:
        """A local directory with the content of ``path`` (a copy when it lives behind a URI)."""
        if self.local:
            return path
        target = tempfile.mkdtemp(prefix="tune-mnist-", dir=scratch)
        pafs.copy_files(path, target, source_filesystem=self.fs, destination_filesystem=pafs.LocalFileSystem())
        return target


def exists(path: str) -> bool:
    """Whether a local path or a URI exists."""
    return Location(path).kind() != pafs.FileType.NotFound


def read_text(path: str) -> str | None:
    """A small text file at a local path or a URI; None where there is none."""
    try:
        return Location(path).read_text()
    except (FileNotFoundError, OSError):
        return None


def write_text(path: str, text: str) -> None:
    Location(path).write_text(text)
