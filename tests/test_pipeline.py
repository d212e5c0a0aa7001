"""`corel evaluate | reproduce | demo` end to end on the bundled digits data."""
import json

import pytest

from corel.cli import main
from corel.pipeline import format_table
from corel.published import published

SMALL = ["--dataset", "digits", "--image-size", "16", "--channels", "8,16,32", "--n-branches", "4",
         "--branch-dim", "5", "--batch-size", "50", "--threads", "1", "--no-progress-bar", "--hist-batches", "2"]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    out = tmp_path_factory.mktemp("train")
    assert main(["train", *SMALL, "--out-dir", str(out), "--epochs", "2"]) == 0
    return out / "model.pt"


def test_evaluate_writes_tables_summary_and_plots(model_path, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["evaluate", str(model_path), "--dataset", "digits", "--n", "20,50", "--draws", "2",
                 "--out-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| digits | digits |" in printed
    for n in (20, 50):
        sub = out / f"n{n}"
        for name in ["per_class.md", "per_class.csv", "per_class.json", "summary.json", "auroc_per_class.png",
                     "roc_curves.png"]:
            assert (sub / name).is_file(), name
        summary = json.loads((sub / "summary.json").read_text())
        assert summary["n"] == n and summary["draws"] == 2 and summary["radius"] == 2.0
        assert summary["dataset"] == "digits" and summary["checkpoint"] == str(model_path)
        assert set(summary["per_class"]) == {str(d) for d in range(10)}
        assert 0.0 <= summary["mean_auroc"] <= 100.0
    # the codes were cached: a second run reuses them and gives the same numbers
    assert main(["evaluate", str(model_path), "--dataset", "digits", "--n", "20", "--draws", "2",
                 "--out-dir", str(out)]) == 0
    again = json.loads((out / "n20" / "summary.json").read_text())
    assert again["mean_auroc"] == json.loads((out / "n20" / "summary.json").read_text())["mean_auroc"]


@pytest.mark.parametrize("args, message", [
    (["--radius", "0"], "--radius must be > 0"),
    (["--n", "5000"], "fewer than n=5000"),
    (["--draws", "0"], "--draws must be >= 1"),
])
def test_evaluate_bad_options(model_path, tmp_path, capsys, args, message):
    assert main(["evaluate", str(model_path), "--dataset", "digits", "--out-dir", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_evaluate_missing_or_corrupt_checkpoint(tmp_path, capsys):
    assert main(["evaluate", str(tmp_path / "nope.pt"), "--dataset", "digits", "--out-dir", str(tmp_path)]) == 2
    assert "does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x00" * 10)
    assert main(["evaluate", str(bad), "--dataset", "digits", "--out-dir", str(tmp_path)]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_reproduce_with_a_checkpoint_and_unknown_setting(model_path, tmp_path, capsys):
    assert main(["reproduce", "nope", "--out-dir", str(tmp_path)]) == 2
    assert "Unknown setting" in capsys.readouterr().err


def test_published_numbers_and_table():
    assert published("cifar10-jpeg", "cifar10-jpeg", 120) == (75.96, 0.65)
    assert published("cifar10", "cifar10", 500) == (78.05, None)
    assert published("cifar10", "cifar10", 120, lam=0.0) is None
    table = format_table([{"trained_on": "cifar10-jpeg", "dataset": "cifar10-jpeg", "lam": 20.0, "n": 120,
                           "mean_auroc": 70.0, "std_auroc": 1.0, "published_mean_auroc": 75.96}])
    assert "| 70.00 +- 1.00 | 75.96 |" in table
