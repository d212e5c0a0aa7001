"""Progress bars on a terminal only: in a log file or a pipe a bar's carriage returns are noise
(thousands of partial lines), so there the commands print their plain summary lines alone."""
from __future__ import annotations

import sys

__all__ = ["progress_bar"]


def on_terminal() -> bool:
    """Whether standard error, where the bars go, is a terminal."""
    return sys.stderr.isatty()


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A tqdm bar over ``iterable`` (or with ``total=``), shown only when ``enabled`` and on a terminal."""
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=not (enabled and on_terminal()), **kwargs)
