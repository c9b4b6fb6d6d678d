"""Where proxynas keeps things: ``$PROXYNAS_HOME`` (proxies, results) and the data root."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The proxynas home: ``$PROXYNAS_HOME``, else the user cache dir. Created on first use."""
    env = os.environ.get("PROXYNAS_HOME")
    path = Path(env).expanduser() if env else user_dir("cache")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The dataset root: ``--data-root``, else ``$PROXYNAS_DATA``, else the user data dir."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("PROXYNAS_DATA")
    return Path(env).expanduser() if env else user_dir("data")


def proxy_dir() -> Path:
    path = home() / "proxies"
    path.mkdir(parents=True, exist_ok=True)
    return path


def results_db() -> Path:
    return home() / "results.sqlite"


def user_dir(kind: str) -> Path:
    """The platform's per-user ``kind`` ("cache" or "data") folder for proxynas (imported on demand)."""
    import platformdirs

    return Path(getattr(platformdirs, f"user_{kind}_dir")("proxynas"))
