"""Where Whistle keeps its files and which database it talks to.

Environment variables override the defaults so tests, CI and production can each point
Whistle elsewhere without code changes:

- ``WHISTLE_DATA_DIR``: folder for the embedded database and cached road networks
  (default: the platform's user data dir, e.g. ``~/.local/share/whistle``).
- ``WHISTLE_DATABASE_URL``: ``sqlite:///path/to/file.db`` or ``postgresql://...``
  (default: ``whistle.db`` in the data dir).
"""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_data_dir


def data_dir() -> Path:
    """The writable data folder, created on first use."""
    path = Path(os.environ.get("WHISTLE_DATA_DIR") or user_data_dir("whistle", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def database_url() -> str:
    """The configured database URL (embedded SQLite file by default)."""
    return os.environ.get("WHISTLE_DATABASE_URL") or f"sqlite:///{data_dir() / 'whistle.db'}"


def network_dir() -> Path:
    """Folder of cached road networks, one file per district."""
    path = data_dir() / "networks"
    path.mkdir(parents=True, exist_ok=True)
    return path
