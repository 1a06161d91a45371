"""Atomic file writes: a crash leaves the old file or the new one, never half of either."""

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path


TEMPORARY_SUFFIX = ".tmp"


@contextmanager
def atomic_path(path):
    """A temporary file beside `path` to write in the block; when the block ends without an error it is fsynced and
    renamed onto `path` (the rename made durable too), else removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMPORARY_SUFFIX)
    os.close(fd)
    try:
        yield Path(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # mkstemp creates 0600; outputs should read like ordinary files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # make the rename itself durable
    finally:
        os.close(directory)


def atomic_write(path, data: bytes) -> Path:
    """Write to a temporary file in the same directory, fsync, then rename over `path`."""
    with atomic_path(path) as temporary:
        temporary.write_bytes(data)
    return Path(path)


def atomic_write_json(path, obj) -> Path:
    return atomic_write(path, (json.dumps(obj, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def remove_temporaries(directory) -> list[Path]:
    """Delete the temporary files that writes killed midway (SIGKILL, power loss) left in `directory`."""
    leftovers = [path for path in Path(directory).glob(f".*{TEMPORARY_SUFFIX}") if path.is_file()]
    for path in leftovers:
        path.unlink(missing_ok=True)
    return leftovers
