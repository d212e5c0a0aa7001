"""`corel ablate` on the bundled digits with a tiny model: cells are kept, reruns skip them,
the sweeps reuse one checkpoint, tables put the published numbers beside ours."""
import json

import pytest

import corel.protocols.oneclass
import corel.training.engine
from corel.protocols.ablate import AblationSpec, format_tables, parse_configs, parse_numbers
from corel.apps.cli import main

TINY = """image_size: 16
channels: [8, 16, 32]
batch_size: 50
progress_bar: false
hist_batches: 2
max_steps: 5
"""


def _args(out, config, *extra):
    return ["ablate", "--dataset", "digits", "--eval-dataset", "digits", "--config", str(config), "--configs", "4x5",
            "--epochs", "1", "--draws", "2", "--threads", "1", "--out-dir", str(out), *extra]


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    """The lambda grid with one cell (lambda 20, 4 x 5), trained once for the whole module."""
    out = tmp_path_factory.mktemp("ablate")
    config = out / "tiny.yaml"
    config.write_text(TINY)
    assert main(_args(out, config, "--sweeps", "lambda", "--lams", "20")) == 0
    return out, config


def _counting(monkeypatch, module, name):
    calls = []
    real = getattr(module, name)

    def wrapped(*a, **k):
        calls.append(a)
        return real(*a, **k)

    monkeypatch.setattr(module, name, wrapped)
    return calls


def _forbid(monkeypatch, module, name):
    def boom(*a, **k):
        raise AssertionError(f"{name} was called although every cell is finished")
    monkeypatch.setattr(module, name, boom)


def test_lambda_grid_resumes_and_trains_only_new_cells(grid, monkeypatch, capsys):
    out, config = grid
    cell = json.loads((out / "cells" / "lambda" / "lam20_4x5.json").read_text())
    assert cell["settings"]["lam"] == 20.0 and cell["settings"]["train"]["n_branches"] == 4
    assert 0.0 <= cell["mean_auroc"] <= 100.0 and (out / "train" / "lam20_4x5" / "model.pt").is_file()

    calls = _counting(monkeypatch, corel.training.engine, "train")
    assert main(_args(out, config, "--sweeps", "lambda", "--lams", "0,20")) == 0
    assert [c[0].lam for c in calls] == [0.0]                      # only the new cell was trained

    _forbid(monkeypatch, corel.training.engine, "train")
    _forbid(monkeypatch, corel.protocols.oneclass, "evaluate_one_class")
    capsys.readouterr()
    assert main(_args(out, config, "--sweeps", "lambda", "--lams", "0,20")) == 0
    table = capsys.readouterr().out
    assert "| branches x dims | lambda=0 | lambda=20 |" in table
    assert f"{cell['mean_auroc']:.2f} +- {cell['std_auroc']:.2f}" in table
    assert (out / "ablation_lambda.png").is_file() and (out / "ablation.md").read_text() in table

    # killed after training but before the cell was written: the model is reused, not retrained
    monkeypatch.undo()
    _forbid(monkeypatch, corel.training.engine, "train")
    (out / "cells" / "lambda" / "lam20_4x5.json").unlink()
    assert main(_args(out, config, "--sweeps", "lambda", "--lams", "20", "--threads", "2")) == 0
    again = json.loads((out / "cells" / "lambda" / "lam20_4x5.json").read_text())
    assert again["mean_auroc"] == cell["mean_auroc"] and again["checkpoint"] == cell["checkpoint"]


def test_sweeps_use_the_grid_model_skip_big_samples_and_resume(grid, monkeypatch, capsys):
    out, config = grid
    sweep = ["--sweeps", "radius,samples", "--lams", "20", "--radii", "1,2", "--sample-sizes", "10,50,500"]
    with pytest.warns(UserWarning, match="n=500 skipped"):
        assert main(_args(out, config, *sweep)) == 0
    table = capsys.readouterr().out
    assert "| 2 |" in table and "| 76.0 |" in table                # the published radius-2 value beside ours
    assert "skipped (class size" in table and "| 77.6 |" in table
    for name in ("radius/r1.json", "radius/r2.json", "samples/n10.json", "samples/n50.json"):
        assert (out / "cells" / name).is_file(), name
    assert not (out / "cells" / "samples" / "n500.json").exists()
    assert (out / "ablation_radius.png").is_file() and (out / "ablation_samples.png").is_file()
    r2 = json.loads((out / "cells" / "radius" / "r2.json").read_text())
    assert r2["checkpoint"].endswith("lam20_4x5/model.pt")

    _forbid(monkeypatch, corel.protocols.oneclass, "evaluate_one_class")
    with pytest.warns(UserWarning):
        assert main(_args(out, config, *sweep)) == 0
    assert f"{r2['mean_auroc']:.2f} +- {r2['std_auroc']:.2f}" in capsys.readouterr().out

    # the same cell under other settings is refused, not silently reused
    assert main(_args(out, config, *sweep[:-2], "--sample-sizes", "10", "--draws", "1")) == 2
    assert "other settings" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--configs", "16by10"], "BRANCHESxDIMS"),
    (["--sweeps", "nope"], "Unknown sweep"),
    (["--sweeps", "radius", "--checkpoint", "missing.pt"], "does not exist"),
    (["--lams", "-1"], "lambda values must be >= 0"),
])
def test_bad_options_exit_2(tmp_path, capsys, extra, message):
    config = tmp_path / "tiny.yaml"
    config.write_text(TINY)
    assert main(_args(tmp_path, config, *extra)) == 2
    assert message in capsys.readouterr().err


def test_parsers_and_published_numbers_in_tables():
    assert parse_configs("16x10, 1x160") == ((16, 10), (1, 160))
    assert parse_numbers("0,1,10", float) == (0.0, 1.0, 10.0)
    spec = AblationSpec(lams=(0.0, 20.0), configs=((16, 10),))
    cell = {"settings": {"branches": 16, "dims": 10, "lam": 20.0}, "mean_auroc": 71.5, "std_auroc": 0.4}
    text = format_tables({"lambda": [cell]}, spec)
    assert "| 16x10 | - (54.67) | 71.50 +- 0.40 (76.00) |" in text
