"""One safe way to open a file a user named: regular files only, bounded reads, optional confinement.

Every entry point that reads a path the user typed or uploaded (images for ``predict`` and
``gradcam``, the ``folds --groups`` CSV, configuration files, weights files) goes through
:func:`open_user_file` or :func:`read_user_bytes` / :func:`read_user_text`, so that the whole
class of "special file" mishaps ends the same way, at once, with a clear message:

- a FIFO, a socket, a character device (``/dev/zero``, ``/dev/stdin``, a terminal) or a block
  device is refused *before* any read: the file is opened with ``O_NONBLOCK`` (opening a FIFO
  that has no writer would otherwise block forever) and checked with ``fstat`` on the open
  descriptor (``S_ISREG``), so a name swapped for a FIFO between a check and the open cannot
  slip through;
- a folder, a missing file, a dangling symlink and a symlink loop get their own reason;
- at most ``max_bytes`` are ever read: a file that is (or grows) larger is refused instead of
  filling memory;
- with ``confine_to``, the file's real path (every symlink resolved) must lie inside that
  folder.

The errors are :class:`UnsafeFileError`, a :class:`~glaucoma_core.errors.UserError` (every
entry point prints it without a traceback) and an ``OSError`` (callers that already catch
``OSError`` for unreadable files keep working). ``.reason`` is the short reason alone.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import BinaryIO

from glaucoma_core.errors import UserError

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
"""Default read limit (64 MiB): far above any CSV or JSON a user writes by hand."""

_KINDS = (
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


class UnsafeFileError(UserError, OSError):
    """A user-given file that cannot be read safely.

    Attributes:
        path: the path as given.
        reason: short human text ("not a regular file: a named pipe (FIFO)", "file too large...").
    """

    def __init__(self, path: str | os.PathLike, reason: str, err: int | None = None):
        self.path = os.fspath(path)
        self.reason = reason
        OSError.__init__(self, err or errno.EINVAL, reason)
        self.filename = self.path
        self.args = (f"{_shown(self.path)}: {reason}",)

    def __str__(self) -> str:
        return f"{_shown(self.path)}: {self.reason}"


def _shown(path: str) -> str:
    """The path as text a terminal can print (undecodable bytes escaped, not crashed on)."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8") if isinstance(path, str) else repr(path)


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words ('a regular file', 'a named pipe (FIFO)', ...)."""
    if stat.S_ISREG(mode):
        return "a regular file"
    for test, name in _KINDS:
        if test(mode):
            return name
    return "a special file"


def _open_error(path, exc: OSError) -> UnsafeFileError:
    if exc.errno == errno.ELOOP:
        reason = "symlink loop"
    elif exc.errno == errno.ENOENT:
        reason = "missing file (no such file)" if not os.path.islink(path) else "broken symlink (target missing)"
    elif exc.errno == errno.EISDIR:
        reason = "not a regular file: a folder"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    elif exc.errno == errno.ENXIO:
        reason = "not a regular file: a socket or device without a reader"
    else:
        reason = f"cannot open: {exc.strerror or exc}"
    return UnsafeFileError(path, reason, exc.errno)


def _check_confined(path, confine_to) -> None:
    root = os.path.realpath(os.fspath(confine_to))
    real = os.path.realpath(os.fspath(path))
    if real != root and not real.startswith(root.rstrip(os.sep) + os.sep):
        raise UnsafeFileError(path, f"outside the allowed folder {root}", errno.EACCES)


def open_user_file(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES,
                   confine_to: str | os.PathLike | None = None) -> BinaryIO:
    """Open a user-given regular file for binary reading; never blocks, never follows a special file.

    Args:
        path: the file, as the user gave it.
        max_bytes: refuse a file whose size is larger (checked on the open descriptor).
        confine_to: when given, the file's real path must lie inside this folder.

    Returns a binary file object positioned at the start (blocking mode restored; a regular
    file never blocks). Raises :class:`UnsafeFileError`.
    """
    if isinstance(path, str) and "\x00" in path:
        raise UnsafeFileError(path.replace("\x00", "\\0"), "file name contains a NUL character")
    if confine_to is not None:
        _check_confined(path, confine_to)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise _open_error(path, exc) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFileError(path, f"not a regular file: {file_kind(info.st_mode)}")
        if info.st_size > max_bytes:
            raise UnsafeFileError(path, f"file too large: {info.st_size:,} bytes (limit {max_bytes:,})", errno.EFBIG)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_user_bytes(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES,
                    confine_to: str | os.PathLike | None = None) -> bytes:
    """All bytes of a user-given regular file (at most ``max_bytes``; a file that grew past the
    limit while being read is refused too). Raises :class:`UnsafeFileError`."""
    with open_user_file(path, max_bytes=max_bytes, confine_to=confine_to) as handle:
        try:
            # read(size + 1), not read(max_bytes + 1): CPython allocates the whole request first
            # (256 MB per image read, 70 us of mapping per file, for 100,000 files in a scan)
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(min(size, max_bytes) + 1)
            if len(data) > size:  # it grew while being read: read on, to the limit
                data += handle.read(max_bytes + 1 - len(data))
        except OSError as exc:
            raise UnsafeFileError(path, f"read error: {exc.strerror or exc}", exc.errno) from None
    if len(data) > max_bytes:
        raise UnsafeFileError(path, f"file too large: more than {max_bytes:,} bytes", errno.EFBIG)
    return data


def read_user_text(path: str | os.PathLike, *, max_bytes: int = DEFAULT_MAX_BYTES,
                   confine_to: str | os.PathLike | None = None) -> str:
    """The text of a user-given file, decoded from UTF-8 (with or without a byte-order mark) or
    UTF-16 with a byte-order mark (what Windows PowerShell's ``>`` writes).

    Raises :class:`UnsafeFileError` for an unsafe file or text in another encoding (the message
    says so).
    """
    data = read_user_bytes(path, max_bytes=max_bytes, confine_to=confine_to)
    return decode_text(data, path)


def decode_text(data: bytes, path: str | os.PathLike = "<text>") -> str:
    """Decode ``data`` as UTF-8 (BOM optional) or BOM-marked UTF-16/UTF-32; raises UnsafeFileError."""
    boms = (
        (b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"),
    )
    encoding = next((name for bom, name in boms if data.startswith(bom)), "utf-8")
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UnsafeFileError(
            path, f"not {encoding.upper()} text (byte {exc.start}: {exc.reason}); save it as UTF-8"
        ) from None


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """True when ``path`` is ``folder`` or lies below it, comparing real paths (symlinks and
    ``..`` resolved, for paths that do not exist yet too)."""
    real = Path(os.path.realpath(os.fspath(path)))
    root = Path(os.path.realpath(os.fspath(folder)))
    return real == root or root in real.parents


__all__ = [
    "DEFAULT_MAX_BYTES",
    "UnsafeFileError",
    "decode_text",
    "file_kind",
    "is_inside",
    "open_user_file",
    "read_user_bytes",
    "read_user_text",
]
