"""The SHA-256 of a file's bytes: what a model is, whatever its file is called.

Kept apart from the training package so that light commands (``corel models``) can name a model's
file without importing torch."""
from __future__ import annotations

import hashlib

__all__ = ["file_sha256"]


def file_sha256(path) -> str:
    """Hex SHA-256 of the file at ``path``, read in 1 MiB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
