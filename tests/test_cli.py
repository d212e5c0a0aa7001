"""The command line: help and argument errors without torch or Lightning; flags reach the jobs."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from corel.apps import cli

COMMANDS = ("train", "evaluate", "reproduce", "demo", "toy", "guide", "ablate", "compare")
HEAVY = ("torch", "lightning", "numba", "sklearn")


def _corel() -> list[str]:
    script = Path(sys.executable).with_name("corel")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "corel"]


def _run(args, code: str | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-c", code] if code is not None else _corel() + list(args)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))


def _loaded(*names: str) -> str:
    return "print(" + ", ".join(f"{n!r} in sys.modules" for n in names) + ")"


def test_building_the_parser_imports_neither_torch_nor_lightning():
    res = _run(None, "import sys, corel.apps.cli; corel.apps.cli.build_parser(); "
                     "print('torch' in sys.modules, 'lightning' in sys.modules)")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False", "False"]


def test_every_subcommand_help_and_argument_errors_stay_light():
    code = ("import sys, contextlib, io\nfrom corel.apps.cli import main\n"
            f"for cmd in {COMMANDS!r}:\n"
            "    for argv in ([cmd, '--help'], [cmd, '--no-such-flag']):\n"
            "        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            "            try:\n"
            "                main(argv)\n"
            "            except SystemExit as e:\n"
            "                assert e.code == (0 if argv[1] == '--help' else 2), (argv, e.code)\n"
            "            else:\n"
            "                raise AssertionError(argv)\n"
            # value checks of evaluate and reproduce come before their imports
            "with contextlib.redirect_stderr(io.StringIO()):\n"
            "    try:\n"
            "        main(['evaluate', 'm.pt', '--radius', '0'])\n"
            "    except SystemExit as e:\n"
            "        assert e.code == 2\n"
            "    assert main(['reproduce', 'cifar10', '--draws', '0']) == 2\n"
            + _loaded(*HEAVY))
    res = _run(None, code)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False"] * len(HEAVY)


def test_import_corel_is_lazy_and_the_top_level_names_still_work():
    res = _run(None, "import sys, corel\n" + _loaded(*HEAVY) + "\n"
                     "from corel import CorelDetector, count_neighbors, vr_persistence_0d, ConnectivityLoss\n"
                     "import corel.scoring.detector\n"
                     "assert count_neighbors is corel.scoring.detector.count_neighbors\n"
                     "assert sorted(n for n in corel.__all__ if getattr(corel, n) is None) == []\n"
                     "print(corel.__version__)")
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["False"] * len(HEAVY) + ["0.1.0"]


def test_unknown_top_level_name_is_an_attribute_error():
    import corel
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        corel.nope  # noqa: B018
    assert set(corel.__all__) <= set(dir(corel))


def test_help_from_the_console_script():
    res = _run(["--help"])
    assert res.returncode == 0, res.stderr
    assert all(c in res.stdout for c in COMMANDS) and not res.stderr
    res = _run(["train", "--help"])
    assert res.returncode == 0, res.stderr
    assert "--lam" in res.stdout and "--data-root" in res.stdout and "--progress-bar" in res.stdout
    res = _run(["evaluate", "--help"])
    assert "--threads" in res.stdout and "--no-progress" in res.stdout


@pytest.mark.parametrize("argv, prog, message", [
    (["train", "--bogus"], "corel train", "unrecognized arguments: --bogus"),
    (["train", "--epochs", "x"], "corel train", "argument --epochs: invalid int value: 'x'"),
    (["evaluate", "m.pt", "--threads", "two"], "corel evaluate", "argument --threads: invalid int value"),
    (["--bogus"], "corel", "the following arguments are required: COMMAND"),
    (["nope"], "corel", "invalid choice: 'nope'"),
])
def test_a_bad_flag_is_one_line_and_exit_2(argv, prog, message):
    res = _run(argv)
    assert res.returncode == 2
    lines = res.stderr.splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith(f"{prog}: error: ") and message in lines[0]
    assert lines[0].endswith(f"(see `{prog} --help`)") and "Traceback" not in res.stderr and not res.stdout


def test_compare_choices_are_the_modules():
    from corel.protocols.compare import METHODS, PROFILES
    assert cli.COMPARE_METHODS == tuple(METHODS)
    assert set(cli.COMPARE_PROFILES) == set(PROFILES)


def test_ablate_defaults_are_the_modules():
    from corel.protocols import ablate
    args = cli.build_parser().parse_args(["ablate"])
    assert tuple(args.sweeps.split(",")) == ablate.SWEEPS
    assert tuple(float(v) for v in args.lams.split(",")) == ablate.LAMBDAS
    assert tuple(float(v) for v in args.radii.split(",")) == ablate.RADII
    assert tuple(int(v) for v in args.sample_sizes.split(",")) == ablate.SAMPLE_SIZES


def test_evaluate_passes_threads_progress_and_protocol(monkeypatch, tmp_path):
    import torch
    from corel.protocols import jobs as pipeline
    seen = {}

    def fake(checkpoint, spec, out_dir, cache_dir=None):
        seen.update(checkpoint=checkpoint, spec=spec, threads=torch.get_num_threads(), cache_dir=cache_dir)
        return []

    monkeypatch.setattr(pipeline, "evaluate_checkpoint", fake)
    before = torch.get_num_threads()
    try:
        assert cli.main(["evaluate", "m.pt", "--threads", "1", "--no-progress", "--out-dir", str(tmp_path)]) == 0
        assert seen["threads"] == 1 and seen["spec"].progress is False and seen["spec"].protocol == "test"
        assert seen["cache_dir"] is None and seen["spec"].scorer is None
        torch.set_num_threads(before)
        assert cli.main(["evaluate", "m.pt", "--protocol", "validation", "--out-dir", str(tmp_path)]) == 0
        assert seen["threads"] == before  # --threads 0: left alone
        assert seen["spec"].progress is True and seen["spec"].protocol == "validation"
    finally:
        torch.set_num_threads(before)


def test_evaluate_passes_the_reference_and_the_codes_cache(monkeypatch, tmp_path, capsys):
    from corel.protocols import jobs as pipeline
    from corel.scoring.scorer import Scorer
    seen = {}
    monkeypatch.setattr(pipeline, "evaluate_checkpoint", lambda checkpoint, spec, out_dir, cache_dir=None: seen.update(
        scorer=spec.scorer, cache_dir=cache_dir) or [])
    assert cli.main(["evaluate", "m.pt", "--scorer", "knn-mean", "--pool-size", "8000", "--codes-cache",
                     str(tmp_path / "c"), "--out-dir", str(tmp_path)]) == 0
    assert seen == {"scorer": Scorer(kind="knn", reference=8000), "cache_dir": str(tmp_path / "c")}
    assert cli.main(["evaluate", "m.pt", "--pool-size", "100", "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs kind='knn'" in err[0]
    # the spelling of corel 0.1 still works, with a note naming the new one
    assert cli.main(["evaluate", "m.pt", "--scorer", "knn-mean", "--reference", "300", "--out-dir", str(tmp_path)]) == 0
    assert seen["scorer"] == Scorer(kind="knn", reference=300) and "--pool-size 300" in capsys.readouterr().err
    assert Scorer(**cli._scorer_fields("knn-mean,k=5,reference=300")) == Scorer(kind="knn", k=5, reference=300)
    assert cli.main(["compare", "--beyond-scorer", "knn-mean,kk=5", "--table-only", "--out-dir", str(tmp_path)]) == 2
    assert "keys ['radius'" in capsys.readouterr().err


def test_demo_digits_passes_progress(monkeypatch, tmp_path):
    from corel.protocols import jobs as pipeline
    seen = {}
    monkeypatch.setattr(pipeline, "demo", lambda out_dir, **kw: seen.update(kw) or [])
    assert cli.main(["demo", "--digits", "--no-progress", "--threads", "1", "--out-dir", str(tmp_path)]) == 0
    assert seen["progress"] is False and seen["threads"] == 1
    assert cli.main(["demo", "--digits", "--out-dir", str(tmp_path)]) == 0
    assert seen["progress"] is True


def test_bare_tta_before_the_model_path_means_flips(monkeypatch, tmp_path, capsys):
    """`corel evaluate --tta model.pt`: argparse alone took model.pt as the mode ('invalid choice')."""
    from corel.protocols import jobs as pipeline
    seen = {}
    monkeypatch.setattr(pipeline, "evaluate_checkpoint", lambda checkpoint, spec, out_dir, cache_dir=None: seen.update(
        checkpoint=checkpoint, tta=spec.tta) or [])
    model = tmp_path / "m.pt"
    model.write_bytes(b"")
    assert cli.main(["evaluate", "--tta", str(model), "--out-dir", str(tmp_path / "o")]) == 0
    assert seen == {"checkpoint": str(model), "tta": "flips"}
    assert cli.main(["evaluate", str(model), "--tta", "flips-shifts", "--out-dir", str(tmp_path / "o")]) == 0
    assert seen["tta"] == "flips-shifts"
    # a mistyped mode (no such path) is still argparse's one-line invalid choice
    with pytest.raises(SystemExit):
        cli.main(["evaluate", "--tta", "rotate", str(model)])
    assert "invalid choice: 'rotate'" in capsys.readouterr().err


def test_a_reader_that_stops_early_gets_no_traceback(monkeypatch):
    # `corel models | head -1`: the pipe closes while corel still writes. The command ends
    # quietly with 141 (128 + SIGPIPE, as a shell reports it) instead of a BrokenPipeError.
    read_end, write_end = os.pipe()
    os.close(read_end)
    stream = open(write_end, "w", buffering=1)     # (main() points its descriptor at devnull)
    monkeypatch.setattr(sys, "stdout", stream)
    try:
        assert cli.main(["models"]) == 141
    finally:
        monkeypatch.undo()
        stream.close()
