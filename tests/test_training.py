"""Training: a real Lightning run on the bundled digits data, resume after SIGKILL, DDP, errors."""
import csv
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from corel.apps.cli import main
from corel.training.engine import CheckpointError, TrainConfig, load_checkpoint, load_model

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


@pytest.mark.slow
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


@pytest.mark.slow
def test_ddp_with_two_cpu_processes(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "corel", "train", *SMALL, "--out-dir", str(tmp_path), "--epochs", "1",
           "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert (tmp_path / "model.pt").is_file()
    # Two ranks share each epoch: 1257 // (2 ranks x 50) steps, not the 25 of one process.
    assert torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 1257 // 100
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
    assert "choose another --out-dir" in capsys.readouterr().err


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
    import corel.training.engine as tr
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


# --- resuming only what is the same run (issue: a resume that mixes settings) -------------------
def test_resume_with_other_settings_is_refused_naming_each_key(tmp_path, capsys):
    """The reproduction: lambda 20, then lambda 0 / seed 7 / lr 0.5 into the same folder."""
    assert _train(tmp_path, "--epochs", "1", "--lam", "20") == 0
    weights = _state(tmp_path / "model.pt")
    capsys.readouterr()
    assert _train(tmp_path, "--epochs", "2", "--lam", "0", "--seed", "7", "--lr", "0.5") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    for text in ("lam: checkpoint 20.0, now 0.0", "seed: checkpoint 0, now 7", "lr: checkpoint 0.001, now 0.5",
                 "--no-resume", "--out-dir"):
        assert text in err, text
    after = _state(tmp_path / "model.pt")
    assert all(torch.equal(weights[k], after[k]) for k in weights), "the refused run changed model.pt"


def test_resume_with_only_run_options_changed_continues(tmp_path, capsys):
    assert _train(tmp_path, "--epochs", "1") == 0
    assert _train(tmp_path, "--epochs", "2", "--threads", "2", "--progress-bar", "--hist-batches", "1") == 0
    assert _epochs_done(tmp_path / "checkpoints" / "last.ckpt") == 2


def test_new_options_change_the_run(tmp_path, capsys):
    """Options beyond the paper are settings too: an augmented run does not resume a plain one."""
    assert _train(tmp_path, "--epochs", "1") == 0
    assert _train(tmp_path, "--epochs", "2", "--augment", "crop,flip") == 2
    assert "augment: checkpoint '', now 'crop,flip'" in capsys.readouterr().err
    assert _train(tmp_path, "--epochs", "2", "--augment", "crop,flip", "--no-resume") == 0


def test_corrupt_last_checkpoint_resumes_from_the_intact_epoch_file(tmp_path, capsys):
    assert _train(tmp_path, "--epochs", "1") == 0
    ckpts = tmp_path / "checkpoints"
    epoch_file = next(ckpts.glob("epoch*.ckpt"))
    (ckpts / "last.ckpt").write_bytes((ckpts / "last.ckpt").read_bytes()[:1000])   # a kill mid-copy
    capsys.readouterr()
    assert _train(tmp_path, "--epochs", "2") == 0
    assert f"resuming from {epoch_file}" in capsys.readouterr().out
    assert _epochs_done(ckpts / "last.ckpt") == 2
    # nothing intact left: one line that names the ways out
    for f in ckpts.glob("*.ckpt"):
        f.write_bytes(b"\0" * 100)
    assert _train(tmp_path, "--epochs", "3") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--no-resume" in err and "corrupt" in err


def test_rerun_epoch_after_a_kill_is_not_counted_twice_in_death_stats(tmp_path):
    """A kill after an epoch's rows were written but before its checkpoint: the epoch runs again."""
    assert _train(tmp_path, "--epochs", "1") == 0
    stats = tmp_path / "death_stats.csv"
    with open(stats) as f:
        rows = list(csv.reader(f))
    # what a kill between the CSV write of epoch 1 and its checkpoint leaves behind
    with open(stats, "a", newline="") as f:
        csv.writer(f).writerows([["1", *r[1:]] for r in rows[1:]])
    assert _train(tmp_path, "--epochs", "2") == 0
    with open(stats) as f:
        keys = [(r["epoch"], r["branch"]) for r in csv.DictReader(f)]
    assert len(keys) == len(set(keys)) == 2 * 4


def test_yaml_keys_as_flag_names_and_numbers_as_strings(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("data-root: null\nlr: 1e-3\nbranch-dim: 5\nepochs: 1\n")
    assert main(["train", "--config", str(config), *SMALL, "--out-dir", str(tmp_path / "run")]) == 0
    cfg = load_checkpoint(tmp_path / "run" / "model.pt")["config"]
    assert cfg["lr"] == 1e-3 and isinstance(cfg["lr"], float) and cfg["branch_dim"] == 5


@pytest.mark.parametrize("content, kind", [(b"lam: 20\nepochs: 3\n", "yaml"), (b"hello, not a model\n", "text")])
def test_a_file_that_is_not_a_model_gives_one_line(tmp_path, capsys, content, kind):
    path = tmp_path / f"model.{kind}"
    path.write_bytes(content)
    assert main(["evaluate", str(path), "--dataset", "digits", "--out-dir", str(tmp_path / "e")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert str(path) in err and "corel train" in err and "weights_only" not in err


def test_augmented_contrastive_denoising_run_trains_and_resumes_exactly(tmp_path):
    extra = ["--augment", "rcrop,flip,jitter,gray", "--contrastive", "10", "--denoise", "0.1", "--holdout", "200"]
    full, killed = tmp_path / "full", tmp_path / "two"
    assert _train(full, "--epochs", "2", *extra) == 0
    assert _train(killed, "--epochs", "1", *extra) == 0
    assert _train(killed, "--epochs", "2", *extra) == 0
    a, b = _state(full / "model.pt"), _state(killed / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with open(full / "logs" / "version_0" / "metrics.csv") as f:
        assert "ctr" in next(csv.DictReader(f))


def test_contrastive_head_reads_only_the_last_branches():
    from corel.training.config import TrainConfig, model_kwargs
    from corel.training.engine import CorelModule
    cfg = TrainConfig(dataset="digits", image_size=16, channels=[8, 16, 32], n_branches=4, branch_dim=5,
                      contrastive=1.0, contrastive_branches=1, augment="flip", rec_weight=0.0, lam=0.0)
    module = CorelModule(*model_kwargs(cfg, 1, 256), cfg.to_dict())
    assert module.head[0].in_features == 5 and module._head_from == 15
    module.log = lambda *a, **k: None
    module.on_train_epoch_start()
    loss = module.training_step((torch.rand(50, 1, 16, 16), None), 0)
    loss.backward()
    # the contrastive term (alone here) reaches the encoder only through the last branch's output block
    grads = module.model.encoder_fc.weight.grad                     # (branches, out, in)
    assert grads[:3].abs().sum() == 0 and grads[3].abs().sum() > 0
    with pytest.raises(ValueError, match="contrastive_branches"):
        TrainConfig(n_branches=4, contrastive_branches=5).validate()


def test_a_run_folder_moved_elsewhere_resumes_and_keeps_writing_last_ckpt(tmp_path):
    """Lightning would write last-v1.ckpt beside the copied last.ckpt; the next resume would go back."""
    import shutil
    assert _train(tmp_path / "a", "--epochs", "1") == 0
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    assert _train(tmp_path / "b", "--epochs", "2") == 0
    ckpts = sorted(p.name for p in (tmp_path / "b" / "checkpoints").glob("*.ckpt"))
    assert "last-v1.ckpt" not in ckpts and _epochs_done(tmp_path / "b" / "checkpoints" / "last.ckpt") == 2


# --- the cosine learning-rate schedule -----------------------------------------------------------
def _lrs(out):
    with open(out / "logs" / "version_0" / "metrics.csv") as f:
        return [float(r["lr"]) for r in csv.DictReader(f) if r.get("lr")]


def test_cosine_schedule_decays_to_zero_over_the_epochs(tmp_path):
    steps = 1257 // 50
    assert _train(tmp_path, "--epochs", "2", "--lr", "2e-3", "--lr-schedule", "cosine") == 0
    lrs = _lrs(tmp_path)   # the learning rate after each epoch's last step
    assert lrs == pytest.approx([1e-3 * (1 + math.cos(math.pi * steps / (2 * steps))), 0.0], abs=1e-9)
    assert _train(tmp_path / "c", "--epochs", "2") == 0
    assert _lrs(tmp_path / "c") == pytest.approx([1e-3, 1e-3])


def test_cosine_run_stopped_by_max_steps_resumes_on_the_same_schedule(tmp_path):
    """The horizon is the epochs' steps: a run stopped after its first epoch (max_steps) and resumed ends with the
    weights of an uninterrupted run (a horizon from max_steps would have decayed to 0 at the stop)."""
    full, split = tmp_path / "full", tmp_path / "split"
    assert _train(full, "--epochs", "2", "--lr-schedule", "cosine") == 0
    assert _train(split, "--epochs", "2", "--lr-schedule", "cosine", "--max-steps", "25") == 0
    assert _train(split, "--epochs", "2", "--lr-schedule", "cosine") == 0
    a, b = _state(full / "model.pt"), _state(split / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cosine_resume_with_other_epochs_is_refused(tmp_path, capsys):
    """Under a cosine schedule the epochs set every step's learning rate: not a run-only option."""
    assert _train(tmp_path, "--epochs", "1", "--lr-schedule", "cosine") == 0
    capsys.readouterr()
    assert _train(tmp_path, "--epochs", "2", "--lr-schedule", "cosine") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "epochs: checkpoint 1, now 2" in err
    assert _train(tmp_path, "--epochs", "2") == 2          # nor a constant-rate resume of a cosine run
    assert "lr_schedule: checkpoint 'cosine', now 'constant'" in capsys.readouterr().err


def test_unknown_schedule_is_a_one_line_error(tmp_path, capsys):
    assert _train(tmp_path, "--epochs", "1", "--lr-schedule", "linear") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "'lr_schedule' must be one of ['constant', 'cosine']" in err
    assert not tmp_path.joinpath("checkpoints").exists()


def _resume_with_max_steps(tmp_path):
    split = tmp_path / "split"
    assert _train(split, "--epochs", "1") == 0
    assert _train(split, "--epochs", "3", "--max-steps", "50") == 0
    assert _epochs_done(split / "checkpoints" / "last.ckpt") == 2
    assert _train(split, "--epochs", "3") == 0
    return split


def test_resume_with_max_steps_continues(tmp_path):
    """Resuming with --max-steps crashed ('no attribute _epoch_stats': Lightning skipped the epoch-start hook)."""
    _resume_with_max_steps(tmp_path)


def test_resume_with_max_steps_matches_an_uninterrupted_run(tmp_path):
    """Lightning's own max_steps made a resumed run re-enter the checkpoint's finished epoch (a
    batch index past the loader's end, one epoch's batches shifted by one): other weights."""
    assert _train(tmp_path / "full", "--epochs", "3") == 0
    a, b = _state(tmp_path / "full" / "model.pt"), _state(_resume_with_max_steps(tmp_path) / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_stop_inside_an_epoch_keeps_the_last_complete_epoch_and_resumes_exactly(tmp_path, capsys):
    full, split = tmp_path / "full", tmp_path / "split"
    assert _train(full, "--epochs", "2") == 0
    assert _train(split, "--epochs", "2", "--max-steps", "30") == 0     # 25 steps per epoch: 5 into epoch 2
    assert "stopped after 30 steps (--max-steps), inside epoch 2" in capsys.readouterr().out
    assert (split / "model.pt").is_file() and _epochs_done(split / "checkpoints" / "last.ckpt") == 1
    assert torch.load(split / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 25
    assert _train(split, "--epochs", "2", "--max-steps", "20") == 0     # already past the limit: no step
    assert torch.load(split / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 25
    assert _train(split, "--epochs", "2") == 0
    a, b = _state(full / "model.pt"), _state(split / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_log_gets_one_plain_line_per_epoch_and_no_hardware_summary(tmp_path, capfd):
    """Output to a file or pipe (not a terminal): no progress bar even when asked for, one line per epoch
    with the losses, death times and seconds, and none of Lightning's "GPU available" lines."""
    args = [a for a in SMALL if a != "--no-progress-bar"]
    assert main(["train", *args, "--out-dir", str(tmp_path / "r"), "--epochs", "2"]) == 0
    out, err = capfd.readouterr()
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert [line.split(":")[0] for line in lines] == ["epoch 1/2", "epoch 2/2"]
    assert all("death min / mean / max" in line and line.endswith(" s") for line in lines)
    assert "available:" not in out + err and "\r" not in out + err


def test_branch_layers_keep_float32_codes_under_bfloat16_autocast():
    from corel.training.models import CorelAutoencoder
    model = CorelAutoencoder(3, 16, channels=(8, 16, 32), n_branches=4, branch_dim=5)
    x = torch.rand(6, 3, 16, 16)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z = model.encode(x)
        h = model.encoder_conv(x).flatten(1)
    assert z.dtype == torch.float32 and h.dtype == torch.bfloat16
    # the branch layer itself computed in float32 from the bfloat16 features
    assert torch.equal(z, model.encoder_fc(h.float()))


def test_bf16_mixed_run_trains_and_exports_float32_weights(tmp_path, capfd):
    extra = ["--augment", "rcrop,flip,jitter,gray", "--contrastive", "10", "--precision", "bf16-mixed"]
    assert _train(tmp_path, "--epochs", "1", *extra) == 0
    printed = capfd.readouterr()
    assert "Automatic Mixed Precision" not in printed.out + printed.err    # the user chose it; no echo
    ck = load_checkpoint(tmp_path / "model.pt")
    assert ck["config"]["precision"] == "bf16-mixed"
    assert all(v.dtype == torch.float32 and torch.isfinite(v).all() for v in ck["state_dict"].values())
    with open(tmp_path / "logs" / "version_0" / "metrics.csv") as f:
        rows = [r for r in csv.DictReader(f) if r.get("conn")]
    assert rows and all(math.isfinite(float(rows[-1][k])) for k in ("conn", "ctr", "rec", "death_mean"))


def test_unknown_precision_is_a_one_line_error(tmp_path, capsys):
    assert main(["train", "--precision", "16", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "'precision' must be one of ['32-true', 'bf16-mixed']" in err and len(err.splitlines()) == 1
    assert main(["train", "--model", "mlp", "--precision", "bf16-mixed", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "is for the conv model" in err and len(err.splitlines()) == 1
