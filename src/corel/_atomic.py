"""Files written whole or not at all: a reader, or a run resumed after a kill, sees the old file or
the complete new one. The bytes go to a temporary file of this process beside the target, are
flushed to disk (fsync), and the temporary file is renamed over the target (``os.replace``)."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_file", "atomic_write_bytes", "atomic_write_text", "atomic_torch_save"]


@contextmanager
def atomic_file(path, mode: str = "wb", **open_kwargs):
    """``open(path, mode)`` that becomes ``path`` only when the block ends without an exception."""
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path, data: bytes) -> None:
    with atomic_file(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text: str) -> None:
    with atomic_file(path, "w", encoding="utf-8") as f:
        f.write(text)


def atomic_torch_save(obj, path) -> None:
    import torch
    with atomic_file(path, "wb") as f:
        torch.save(obj, f)
