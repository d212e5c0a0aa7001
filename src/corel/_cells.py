"""Finished pieces of long runs, one JSON file each, written atomically, so that a killed
run resumes where it stopped (``corel compare``, ``corel ablate``): a file is reused only
if it was computed with the same settings."""
from __future__ import annotations

import json
from pathlib import Path

from ._atomic import atomic_write_text


def load_cell(path: Path, settings: dict, key: str = "settings") -> dict | None:
    """The finished cell at ``path`` (None if there is none); a ValueError naming the
    differing settings if it was computed with others than ``settings`` (stored under
    ``key``)."""
    if not path.exists():
        return None
    settings = json.loads(json.dumps(settings, default=str))          # as it reads back
    saved = json.loads(path.read_text())
    theirs = saved.get(key, {})
    if theirs != settings:
        diff = sorted(k for k in set(settings) | set(theirs) if settings.get(k) != theirs.get(k))
        raise ValueError(f"{path} was computed with other settings (differing: {diff}); use another "
                         f"--out-dir, or delete that file to recompute it.")
    return saved


def store_cell(path: Path, result: dict) -> None:
    atomic_write_text(path, json.dumps(result, indent=2, default=str) + "\n")
