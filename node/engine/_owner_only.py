"""Files and directories only their owner may use, whatever the umask (decision 0030).

A mode given to ``open`` or ``mkdir`` is masked by the umask: it can come out narrower than
asked (a directory the node cannot write) but never wider. So the mode is set on the
descriptor, or right after ``mkdir``, before anything is written into it.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["make_private_directory", "narrow_to_owner", "write_private_file"]

FILE_MODE = 0o600
DIRECTORY_MODE = 0o700


def write_private_file(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path``, replacing it atomically, as a file 0600.

    Durability: the content is fsynced before the rename, so a crash leaves the old file or
    the new one, never a torn one.
    """
    data = content.encode() if isinstance(content, str) else content
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    temporary.replace(path)


def make_private_directory(path: Path, *, exist_ok: bool = False) -> None:
    """Create ``path`` (and missing parents) as a directory 0700.

    Only the directory itself is set to 0700; parents created on the way keep the umask's mode,
    as ``mkdir -p`` leaves them. An existing directory is left as it is (``exist_ok``).
    """
    try:
        path.mkdir(parents=True, mode=DIRECTORY_MODE)
    except FileExistsError:
        if not exist_ok or not path.is_dir():
            raise
        return
    os.chmod(path, DIRECTORY_MODE)


def narrow_to_owner(path: Path) -> None:
    """Clear the group and other bits of a file this process owns (a store file made by an
    older version, or put back by hand from a backup); a file missing or not ours is left."""
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_mode & 0o077:
        os.chmod(path, stat.S_IMODE(info.st_mode) & FILE_MODE)
