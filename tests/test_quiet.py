"""corel.training._quiet.quiet_lightning drops Lightning's tip, its LeafSpec deprecation warning and its
"Checkpoint directory ... exists and is not empty" warning, and nothing else."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow   # subprocess trainings: the full suite (.ci/run) only

TEXTS = ("💡 Tip:", "`isinstance(treespec, LeafSpec)` is deprecated", "exists and is not empty")

# Two one-epoch fits of a tiny module into the same checkpoint folder, as `corel train` does
# (a restart writes into its own out_dir), with the CSV logger; argv[1]: call quiet_lightning().
_SCRIPT = r"""
import sys, warnings
import torch
import lightning.pytorch as pl
from lightning.pytorch.callbacks import ModelCheckpoint
if sys.argv[1] == "quiet":
    from corel.training._quiet import quiet_lightning
    quiet_lightning()
    quiet_lightning()  # twice: harmless
torch.set_num_threads(1)
out = sys.argv[2]

class Tiny(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
    def training_step(self, batch, _):
        (x,) = batch
        loss = self.lin(x).pow(2).mean()
        self.log("loss", loss)
        return loss
    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)

data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.randn(8, 4)), batch_size=4)
for _ in range(2):
    trainer = pl.Trainer(max_epochs=1, accelerator="cpu", default_root_dir=out, enable_progress_bar=False,
                         enable_model_summary=False, logger=pl.loggers.CSVLogger(out, name="logs"),
                         callbacks=[ModelCheckpoint(dirpath=out + "/checkpoints", save_last=True)])
    trainer.fit(Tiny(), train_dataloaders=data)
warnings.warn("`isinstance(treespec, LeafSpec)` is deprecated: the same text from elsewhere", FutureWarning)
print("done")
"""


def _run(args, tmp_path: Path, timeout=240) -> str:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="default")
    res = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp_path)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res.stdout + res.stderr


def test_quiet_lightning_silences_exactly_its_lines(tmp_path):
    loud = _run([sys.executable, "-c", _SCRIPT, "loud", str(tmp_path / "a")], tmp_path)
    present = [t for t in TEXTS if t in loud]
    assert present == list(TEXTS), f"this Lightning prints only {present}:\n{loud}"  # the test sees them
    quiet = _run([sys.executable, "-c", _SCRIPT, "quiet", str(tmp_path / "b")], tmp_path)
    assert "💡" not in quiet and "exists and is not empty" not in quiet, quiet
    # Lightning's own LeafSpec warning is gone; the same text raised by another module still shows
    assert quiet.count("`isinstance(treespec, LeafSpec)` is deprecated") == 1, quiet
    assert "the same text from elsewhere" in quiet
    # the hardware summary is gone; the rest of Lightning's messages still show
    assert "GPU available" in loud and "GPU available" not in quiet and "TPU available" not in quiet
    assert "`Trainer.fit` stopped" in quiet
    assert "done" in quiet


def test_corel_train_twice_into_one_folder_is_quiet(tmp_path):
    cmd = [sys.executable, "-m", "corel", "train", "--dataset", "digits", "--image-size", "16", "--channels",
           "8,16,32", "--n-branches", "4", "--branch-dim", "5", "--batch-size", "50", "--threads", "1",
           "--no-progress-bar", "--epochs", "1", "--hist-batches", "2", "--out-dir", str(tmp_path / "run")]
    for _ in range(2):  # the second run finds its checkpoint folder not empty
        printed = _run(cmd + ["--no-resume"], tmp_path)
        for text in TEXTS:
            assert text not in printed, printed
        assert "model written to" in printed
