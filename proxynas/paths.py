"""Where proxynas keeps things: ``$PROXYNAS_HOME`` (proxies, results), the data root, output folders.

Every folder proxynas writes to goes through :func:`writable_dir`: one that cannot be made or written is
a one-line :class:`~proxynas.errors.ProxynasError` naming the folder and the setting that moves it.
"""

from __future__ import annotations

import os
from pathlib import Path

from proxynas.errors import ProxynasError

HOME_FIX = "set PROXYNAS_HOME to a folder you can write, e.g. export PROXYNAS_HOME=$HOME/.cache/proxynas"
DATA_FIX = "pass --data-root DIR or set PROXYNAS_DATA to a folder you can write"


def writable_dir(path: str | os.PathLike[str], what: str, fix: str) -> Path:
    """``path`` made if missing and checked writable; else a ProxynasError saying ``what`` it is and ``fix``."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ProxynasError(f"{what} {path} is a file, not a folder", fix) from None
    except OSError as err:
        raise ProxynasError(f"{what} {path} cannot be created ({err.strerror or type(err).__name__})",
                            fix) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise ProxynasError(f"{what} {path} is not writable", fix)
    return path


def home() -> Path:
    """The proxynas home: ``$PROXYNAS_HOME``, else the user cache dir. Created on first use."""
    env = os.environ.get("PROXYNAS_HOME")
    if env:
        return writable_dir(Path(env).expanduser(), "PROXYNAS_HOME", HOME_FIX)
    return writable_dir(user_dir("cache"), "the proxynas home (user cache dir)", HOME_FIX)


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The dataset root: ``--data-root``, else ``$PROXYNAS_DATA``, else the user data dir (not created)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("PROXYNAS_DATA")
    return Path(env).expanduser() if env else user_dir("data")


def writable_data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The data root, made and checked writable (for downloads)."""
    return writable_dir(data_root(explicit), "the data root", DATA_FIX)


def output_dir(path: str | os.PathLike[str], fix: str = "pass --out with a folder you can write") -> Path:
    """A folder for plots, tables and reports, made and checked writable."""
    return writable_dir(Path(path).expanduser(), "the output folder", fix)


def output_file(path: str | os.PathLike[str], fix: str = "pass --out with a file in a folder you can write") -> Path:
    """A file to write: its folder made and checked writable."""
    path = Path(path).expanduser()
    writable_dir(path.parent, "the output folder", fix)
    if path.exists() and not os.access(path, os.W_OK):
        raise ProxynasError(f"the output file {path} is not writable", fix)
    return path


def proxy_dir() -> Path:
    return writable_dir(home() / "proxies", "the proxy library", HOME_FIX)


def results_db() -> Path:
    path = home() / "results.sqlite"
    if path.exists() and not os.access(path, os.W_OK):
        raise ProxynasError(f"the results store {path} is not writable", HOME_FIX)
    return path


def user_dir(kind: str) -> Path:
    """The platform's per-user ``kind`` ("cache" or "data") folder for proxynas (imported on demand)."""
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")("proxynas"))
