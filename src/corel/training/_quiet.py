"""Silence the lines Lightning prints on every `corel train` run that are not the user's business.

1. The advertisement ``💡 Tip: For seamless cloud logging ...`` (litlogger; its sibling for
   litmodels, ``💡 Tip: For seamless cloud uploads ...``, too): ``rank_zero_info`` records of
   the logger ``lightning.pytorch.utilities.rank_zero`` (lightning/pytorch/trainer/connectors/
   logger_connector/logger_connector.py and callback_connector.py). A logging filter on that
   logger drops exactly those records; its other messages ("GPU available: ...", "`Trainer.fit`
   stopped ...") still show.
2. ``isinstance(treespec, LeafSpec)`` is deprecated: a FutureWarning torch raises when
   lightning/pytorch/utilities/_pytree.py builds a ``LeafSpec()`` (Lightning's own use, nothing
   we can change).
3. ``Checkpoint directory ... exists and is not empty.``: a UserWarning of
   lightning/pytorch/callbacks/model_checkpoint.py, raised whenever a run resumes or restarts
   into its own out_dir, which is how `corel train` works (one folder per run, resumable).

The warnings are filtered by message and by the Lightning module that raises them, so the
same texts from elsewhere still show. Calling the function again adds nothing.
"""
from __future__ import annotations

import logging
import re
import warnings

__all__ = ["quiet_lightning"]

# Lightning points rank_zero_info at one of these loggers (whichever package was imported last).
_RANK_ZERO_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero",
                      "pytorch_lightning.utilities.rank_zero", "lightning_fabric.utilities.rank_zero",
                      "lightning_utilities.core.rank_zero")
_TIP = re.compile(r"💡 Tip: For seamless cloud (logging and experiment tracking|uploads and versioning)")
# The hardware summary of every run ("GPU available: False, used: False", "TPU available: ...", HPU, IPU):
# the user chose --accelerator; corel's own lines say what runs.
_HARDWARE = re.compile(r"(GPU|TPU|HPU|IPU) available: |Using \S+ Automatic Mixed Precision")   # and --precision's echo


class _NoLightningTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and (_TIP.match(record.msg) or _HARDWARE.match(record.msg)))


_FILTER = _NoLightningTips()


def quiet_lightning() -> None:
    """Drop Lightning's litlogger/litmodels tip, its LeafSpec deprecation warning and its
    "Checkpoint directory ... exists and is not empty" warning (see the module docstring)."""
    for name in _RANK_ZERO_LOGGERS:
        logging.getLogger(name).addFilter(_FILTER)  # the same object twice is added once
    warnings.filterwarnings("ignore", message=re.escape("`isinstance(treespec, LeafSpec)` is deprecated"),
                            category=FutureWarning,
                            module=r"(lightning\.pytorch|pytorch_lightning)\.utilities\._pytree\Z")
    warnings.filterwarnings("ignore", message=r"Checkpoint directory .* exists and is not empty\.",
                            category=UserWarning,
                            module=r"(lightning\.pytorch|pytorch_lightning)\.callbacks\.model_checkpoint\Z")
    # A run folder moved or copied and resumed: corel keeps writing last.ckpt there (no version
    # counter) and checks the settings itself, so Lightning's note about its bookkeeping is noise.
    warnings.filterwarnings("ignore", message=r"The dirpath has changed from .* won't be reloaded\.",
                            category=UserWarning,
                            module=r"(lightning\.pytorch|pytorch_lightning)\.callbacks\.model_checkpoint\Z")
