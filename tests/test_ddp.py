"""DDP done right: one writer and one voice, metrics reduced over the ranks, resume after a kill,
``--conn-scope global``, and two "nodes" on this machine over the loopback address.

Every run is 2 CPU processes (gloo) of the tiny digits model, 2 epochs of 12 steps. One DDP run
(a module-scoped fixture) is the reference of the others: four DDP launches in all, plus one
small gloo group without Lightning.
"""
import csv
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from corel.apps.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from _ddp_worker import fake_batch_stats  # noqa: E402

pytestmark = pytest.mark.slow   # subprocess trainings: the full suite (.ci/run) only

SMALL = ["--dataset", "digits", "--image-size", "16", "--channels", "8,16,32", "--n-branches", "4",
         "--branch-dim", "5", "--threads", "1", "--no-progress-bar", "--hist-batches", "2"]
DDP = ["--accelerator", "cpu", "--devices", "2", "--strategy", "ddp", "--conn-scope", "global"]
WORKER = str(Path(__file__).with_name("_ddp_worker.py"))
STEPS_PER_EPOCH = 1257 // (2 * 50)   # digits' training split over 2 ranks of 50, drop_last
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def _run(cmd, **kwargs):
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=ENV, **kwargs)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-3000:]
    return res


def _train_cmd(out, *extra):
    return [sys.executable, "-m", "corel", "train", *SMALL, "--batch-size", "50", "--out-dir", str(out), *extra]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _weights(path):
    return torch.load(path, weights_only=True)["state_dict"]


def _metrics(out):
    with open(Path(out) / "logs" / "version_0" / "metrics.csv") as f:
        return [r for r in csv.DictReader(f) if r.get("loss_epoch")]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory):
    """`corel train --devices 2 --strategy ddp --conn-scope global --epochs 2`, each rank recording
    what it logs. The reference of the resume, one-process and two-node tests."""
    out = tmp_path_factory.mktemp("ddp")
    res = _run([sys.executable, WORKER, "cli", "train", *SMALL, "--batch-size", "50", "--out-dir", str(out),
                "--epochs", "2", *DDP])
    return out, res


# ----------------------------------------------------------------------------- one writer, one voice
def test_ddp_run_prints_and_writes_once(ddp_run):
    out, res = ddp_run
    assert res.stdout.count("model written to") == 1, res.stdout
    for name in ["model.pt", "deaths_start.pt", "deaths_end.pt", "death_histogram.png", "death_stats.csv",
                 "checkpoints/last.ckpt"]:
        assert (out / name).is_file(), name
    assert not list(out.rglob("*.tmp")), "a temporary file was left behind"
    assert [p.name for p in (out / "logs").iterdir()] == ["version_0"]       # one logger, not one per rank
    assert [p.name for p in (out / "tensorboard").iterdir()] == ["version_0"]
    ck = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ck["global_step"] == 2 * STEPS_PER_EPOCH
    assert "sync_dist" not in res.stderr, "Lightning still warns that an epoch metric is not reduced"


def test_ddp_epoch_metrics_are_the_mean_over_ranks(ddp_run):
    out, _ = ddp_run
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    rows = _metrics(out)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    for row in rows:
        epoch = int(row["epoch"])

        def per_rank(name):
            return [[v["value"] for v in rank["logged"] if v["name"] == name and v["epoch"] == epoch]
                    for rank in ranks]
        for logged, name in [("loss_epoch", "loss"), ("rec", "rec"), ("conn", "conn")]:
            values = per_rank(name)
            assert [len(v) for v in values] == [STEPS_PER_EPOCH] * 2
            expected = sum(sum(v) / len(v) for v in values) / 2
            assert float(row[logged]) == pytest.approx(expected, rel=1e-6), logged
            if name == "rec":   # (conn is the gathered codes', the same on both ranks, with conn_scope global)
                # the ranks' own means differ by far more than that tolerance: rank 0's alone would fail
                assert abs(sum(values[0]) / len(values[0]) - expected) > 1e-4 * expected, logged
        times = per_rank("epoch_time_s")
        assert float(row["epoch_time_s"]) == pytest.approx((times[0][0] + times[1][0]) / 2, rel=1e-5)
        # death times (of the gathered codes here; the reduction over ranks is tested on made-up values
        # in test_global_scope_gives_the_deaths_and_gradients_of_one_process)
        stats = [rank["stats"][epoch * STEPS_PER_EPOCH:(epoch + 1) * STEPS_PER_EPOCH] for rank in ranks]
        assert stats[0] == stats[1]
        branch_min = torch.tensor([s["min"] for s in stats[0]]).amin(0)
        branch_mean = torch.tensor([s["mean"] for s in stats[0]]).mean(0)
        branch_max = torch.tensor([s["max"] for s in stats[0]]).amax(0)
        assert float(row["death_min"]) == pytest.approx(float(branch_min.min()), rel=1e-6)
        assert float(row["death_mean"]) == pytest.approx(float(branch_mean.mean()), rel=1e-5)
        assert float(row["death_max"]) == pytest.approx(float(branch_max.max()), rel=1e-6)
        with open(out / "death_stats.csv") as f:
            csv_rows = [r for r in csv.DictReader(f) if int(r["epoch"]) == epoch]
        assert [float(r["death_mean"]) for r in csv_rows] == pytest.approx(branch_mean.tolist(), rel=1e-5, abs=1e-6)


# ----------------------------------------------------------------------------- resume after a kill
def test_ddp_resume_after_sigkill_matches_uninterrupted_run(ddp_run, tmp_path):
    """Kill both ranks after the first checkpoint, corrupt last.ckpt, restart: all ranks resume from the
    intact epoch file (rank 0 moves the corrupt file aside only once rank 1 has chosen too)."""
    full, _ = ddp_run
    killed = tmp_path / "killed"
    proc = subprocess.Popen(_train_cmd(killed, "--epochs", "2", *DDP), env=ENV, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    last = killed / "checkpoints" / "last.ckpt"
    deadline = time.time() + 240
    while not last.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)   # rank 0 and the rank it launched
    proc.wait()
    assert last.exists(), "the run never reached its first checkpoint"
    assert torch.load(last, weights_only=True)["global_step"] == STEPS_PER_EPOCH, \
        "the run got past its first epoch before it was killed"
    assert not (killed / "model.pt").exists(), "the run finished before it was killed; nothing was tested"
    last.write_bytes(last.read_bytes()[:1000])                         # a kill while it was being copied
    res = _run(_train_cmd(killed, "--epochs", "2", *DDP))
    assert res.stdout.count("resuming from") == 1 and res.stdout.count("model written to") == 1, res.stdout
    assert (killed / "checkpoints" / "last.ckpt.corrupt").is_file()
    a, b = _weights(full / "model.pt"), _weights(killed / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a), "the resumed DDP run ended with other weights"


# ----------------------------------------------------------------------------- --conn-scope global
def test_global_scope_gives_the_deaths_and_gradients_of_one_process(tmp_path):
    """2 ranks of 50 codes, gathered: the deaths of the 100 codes, and (after DDP's mean over the ranks)
    the parameter gradient of one process holding all 100."""
    from corel.training.losses import ConnectivityLoss, split_branches
    from corel.topology.h0 import vr_persistence_0d
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, WORKER, "gather", str(r), "2", str(port), str(tmp_path / f"r{r}.pt")],
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for r in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err[-3000:]
    torch.manual_seed(0)
    codes = torch.randn(100, 20, dtype=torch.float64)
    weight = torch.randn(20, 20, dtype=torch.float64, requires_grad=True)
    z = (codes @ weight).detach().requires_grad_(True)
    loss = ConnectivityLoss(eta=2.0, metric="l1", n_branches=4)(z)
    loss.backward()
    (codes @ weight).backward(z.grad)
    deaths = vr_persistence_0d(split_branches(z.detach(), 4), "l1").deaths
    for r in (0, 1):
        got = torch.load(tmp_path / f"r{r}.pt", weights_only=True)
        assert torch.allclose(got["loss"], loss.detach(), rtol=1e-12)
        assert torch.allclose(got["deaths"], deaths, rtol=1e-12)
        # each rank's own codes get the sum over ranks of the (identical) losses' gradients ...
        assert torch.allclose(got["code_grad"], 2 * z.grad[r * 50:(r + 1) * 50], rtol=1e-12)
        # ... which DDP's mean over the ranks turns into one process's gradient
        assert torch.allclose(got["weight_grad"], weight.grad, rtol=1e-10, atol=1e-12)
        assert "ranks would resume from different checkpoints" in got["agreement"]
        assert "rank 0: last.ckpt at step 12; rank 1: no checkpoint" in got["agreement"]
        # an epoch's death statistics: min of the minima, mean of the means, max of the maxima
        batches = [fake_batch_stats(rank, b) for rank in (0, 1) for b in range(3)]
        mins, means, maxs = (torch.stack([s[i] for s in batches]) for i in range(3))
        expected = (mins.amin(0), means.mean(0), maxs.amax(0))
        assert all(torch.allclose(g, e) for g, e in zip(got["summary"], expected)), (got["summary"], expected)
        assert got["all_true"] == (True, False)


def test_global_scope_on_two_ranks_trains_as_one_process_of_twice_the_batch(ddp_run, tmp_path):
    """Same seed, 2 ranks x 50 codes with conn_scope global == 1 process x 100 codes (float rounding apart)."""
    assert main(["train", *SMALL, "--batch-size", "100", "--epochs", "2", "--out-dir", str(tmp_path)]) == 0
    global_run = ddp_run[0]
    a, b = _weights(tmp_path / "model.pt"), _weights(global_run / "model.pt")
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-3, atol=1e-5), (k, (a[k] - b[k]).abs().max())
    one, two = _metrics(tmp_path), _metrics(global_run)
    for key in ("loss_epoch", "rec", "conn", "death_min", "death_mean", "death_max"):
        assert [float(r[key]) for r in two] == pytest.approx([float(r[key]) for r in one], rel=1e-4), key


# ----------------------------------------------------------------------------- two nodes, one machine
def test_two_nodes_over_loopback_match_the_single_node_run(ddp_run, tmp_path):
    """The README's torchrun command for 2 nodes x 1 process, both "nodes" on 127.0.0.1: the same
    weights as 1 node x 2 processes, files written once (by global rank 0)."""
    port = _free_port()
    out = tmp_path / "two-nodes"
    cmds = [[sys.executable, "-m", "torch.distributed.run", "--nnodes", "2", "--nproc-per-node", "1",
             "--node-rank", str(node), "--master-addr", "127.0.0.1", "--master-port", str(port),
             "-m", "corel", "train", *SMALL, "--batch-size", "50", "--out-dir", str(out), "--epochs", "2",
             "--conn-scope", "global", "--accelerator", "cpu", "--devices", "1", "--num-nodes", "2",
             "--strategy", "ddp"] for node in (0, 1)]
    procs = [subprocess.Popen(c, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outputs):
        assert p.returncode == 0, o[-2000:] + e[-3000:]
    assert sum(o.count("model written to") for o, _ in outputs) == 1
    assert torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 2 * STEPS_PER_EPOCH
    a, b = _weights(ddp_run[0] / "model.pt"), _weights(out / "model.pt")
    assert all(torch.equal(a[k], b[k]) for k in a), "two nodes trained other weights than one node of 2 processes"
