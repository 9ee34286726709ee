"""Where experiments live: a local directory, a network file system, or a URI through Ray's
storage layer (pyarrow filesystems: s3://, gs://, ...). A multi-node run needs storage that every
node reaches, and a local disk is refused there before any trial starts."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from tune_mnist.errors import InputError

#: The search CLI's options, saved beside Ray's files so --resume (and the analysis) know how it ran.
RUN_FILE = "tune_mnist_run.json"

# File system types that other machines can see too (from /proc/mounts).
SHARED_FS_TYPES = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "lustre", "gpfs", "beegfs", "ceph", "glusterfs",
                   "fuse.glusterfs", "fuse.sshfs", "fuse.s3fs", "fuse.gcsfuse", "fuse.goofys", "fuse.juicefs",
                   "fuse.mountpoint-s3", "fuse.rclone", "fuse.blobfuse2", "9p", "virtiofs", "efs", "weka", "fuse.weka"}


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
        raise InputError(f"Storage path {root} cannot be written ({exc.strerror}): "
                         "pass --storage-path with a directory you can write to.") from None
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
    raise InputError(f"Storage path {storage} is on this node's own disk ({kind}), but the Ray cluster has {nodes} "
                     "nodes whose trials could not write there: pass --storage-path on shared storage (an NFS "
                     "mount, s3://bucket/path, gs://bucket/path), or add --shared-storage if every node mounts "
                     "this path.")


def _filesystem(path: str) -> tuple["pafs.FileSystem", str]:
    import pyarrow.fs as pafs

    if is_uri(path):
        return pafs.FileSystem.from_uri(path)
    return pafs.LocalFileSystem(), str(Path(path).resolve())


def exists(path: str) -> bool:
    """Whether a local path or a URI (through pyarrow's filesystems, as Ray's storage) exists."""
    import pyarrow.fs as pafs

    fs, inner = _filesystem(path)
    return fs.get_file_info(inner).type != pafs.FileType.NotFound


def read_text(path: str) -> str | None:
    """A small text file at a local path or a URI; None where there is none."""
    fs, inner = _filesystem(path)
    try:
        with fs.open_input_stream(inner) as stream:
            return stream.read().decode()
    except (FileNotFoundError, OSError):
        return None


def write_text(path: str, text: str) -> None:
    fs, inner = _filesystem(path)
    fs.create_dir(inner.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(inner) as stream:
        stream.write(text.encode())
