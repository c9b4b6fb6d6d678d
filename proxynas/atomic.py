"""Writing files safely: whole or not at all, under a name of their own, with one-line errors.

Every file proxynas writes into place (proxies, checkpoints, the layout cache, tables, reports, plots)
goes through :func:`atomic_write`: the bytes go to a temporary file with a unique name in the target's
folder (``tempfile.mkstemp``: two processes never share one), which is flushed to the disk and renamed
over the target (``os.replace``). A reader sees the old file or the new one, a killed writer leaves at
most a hidden ``.NAME.*.tmp`` and a failed one nothing. The file gets the mode any file the user makes
gets (``0666`` less the umask, 0644 by default), not ``mkstemp``'s 0600.

A write that fails for the disk's sake (full, quota, file size limit, read-only, I/O error) is a
:class:`~proxynas.errors.ProxynasError` naming the cause and the path. :func:`file_lock` serialises
processes that make the same file (an OS lock, ``fcntl.flock``, released when its holder exits).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import io
import logging
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from proxynas.errors import ProxynasError

log = logging.getLogger(__name__)

# what to do about a failed write, by errno
FIXES = {
    errno.ENOSPC: "free space on that disk, or point PROXYNAS_HOME / --out at another one",
    errno.EDQUOT: "free space within your disk quota, or point PROXYNAS_HOME / --out at another disk",
    errno.EFBIG: "the file size limit is too small: raise it (ulimit -f unlimited)",
    errno.EROFS: "the file system is read-only: point PROXYNAS_HOME / --out at a writable one",
    errno.EACCES: "point PROXYNAS_HOME / --out at a folder you can write",
    errno.EPERM: "point PROXYNAS_HOME / --out at a folder you can write",
}
DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EIO})
DEFAULT_FIX = "check the disk; what was stored before is unchanged"


def umask() -> int:
    """This process's umask, read without changing it (Linux: ``/proc/self/status``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore (not thread-safe, hence the fallback only)
    os.umask(mask)
    return mask


def io_error(err: BaseException, path: Path | str, what: str) -> ProxynasError:
    """``err`` (an OSError, or a library's error carrying an OS error code) as a one-line error."""
    code = err.errno if isinstance(err, OSError) else os_code(str(err))
    if code is not None:
        cause = f"{os.strerror(code)} [{errno.errorcode.get(code, code)}]"
    else:
        cause = " ".join(str(err).split())[:200] or type(err).__name__
    return ProxynasError(f"cannot write {what} {path}: {cause}; the file is left as it was",
                         FIXES.get(code, DEFAULT_FIX) if code is not None else DEFAULT_FIX)


def disk_error(err: OSError) -> ProxynasError:
    """An OSError of the disk raised outside :func:`atomic_write`, as a one-line error."""
    code = err.errno or 0
    return ProxynasError(f"{os.strerror(code)} [{errno.errorcode.get(code, code)}] at {err.filename or 'a file'}",
                         FIXES.get(code, DEFAULT_FIX))


def os_code(message: str) -> int | None:
    """The OS error code in a message of a library that wraps it (safetensors: ``Os { code: 28, ...``)."""
    found = re.search(r"(?:code: |os error |\[Errno )(\d+)", message)
    return int(found.group(1)) if found else None


def atomic_write(path: Path | str, write: Callable[[BinaryIO], object], *, what: str = "the file") -> Path:
    """Write ``path`` whole or not at all: ``write(f)`` fills a temporary file in the same folder, which
    then replaces ``path``. Raises a ProxynasError naming the cause and the path when the disk refuses."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise io_error(err, path, what) from None
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            raise io_error(err, path, what) from None
        raise
    return path


def atomic_write_bytes(path: Path | str, data: bytes | memoryview, *, what: str = "the file") -> Path:
    return atomic_write(path, lambda f: f.write(data), what=what)


def atomic_write_text(path: Path | str, text: str, *, what: str = "the file", encoding: str = "utf-8") -> Path:
    return atomic_write(path, lambda f: f.write(text.encode(encoding)), what=what)


@contextlib.contextmanager
def atomic_text(path: Path | str, *, what: str = "the file", encoding: str = "utf-8") -> Iterator[io.StringIO]:
    """A text buffer (newlines kept as written, as ``open(newline="")`` does) written to ``path`` by
    :func:`atomic_write` when the block ends without an error."""
    buffer = io.StringIO(newline="")
    yield buffer
    atomic_write_text(path, buffer.getvalue(), what=what, encoding=encoding)


@contextlib.contextmanager
def file_lock(path: Path | str, what: str) -> Iterator[None]:
    """Hold an exclusive OS lock on ``path`` (a lock file, made if missing and left in place) while the
    block runs; another process asking for it waits, saying so once."""
    path = Path(path)
    try:
        handle = open(path, "a")  # noqa: SIM115 (held open for the lock's lifetime)
    except OSError as err:
        raise io_error(err, path, "the lock file") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("waiting for another process making %s", what)
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
