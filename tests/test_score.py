"""`corel score` on a user's image files: the digits scenario of issue 13, detector files, bad inputs."""
from __future__ import annotations

import csv
import io
import json
import shutil
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score

from corel.apps.cli import main
from corel.scoring.detector import CorelDetector
from corel.data.imagefiles import open_images, read_batches
from corel.training.models import build_model
from corel.apps.score import ScoreOptions, run_score, summary_path

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:.*resized \\(stretched\\):UserWarning")]

TRAIN = ["--dataset", "digits", "--image-size", "16", "--channels", "8,16,32", "--n-branches", "4",
         "--branch-dim", "5", "--batch-size", "50", "--threads", "1", "--no-progress-bar", "--hist-batches", "2",
         "--epochs", "3", "--seed", "0"]


def _digits_pngs(root: Path) -> Path:
    """100 zeros as inliers; 70 other zeros and 70 other digits to score (8x8 PNGs, as sklearn has them)."""
    from sklearn.datasets import load_digits
    bunch = load_digits()
    x = np.rint(bunch.images * (255 / 16)).astype(np.uint8)
    zeros = np.flatnonzero(bunch.target == 0)
    others = np.random.default_rng(0).choice(np.flatnonzero(bunch.target != 0), 70, replace=False)
    for sub, idx in (("inliers", zeros[:100]), ("images/zeros", zeros[100:170]), ("images/others", others)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        for i in idx:
            Image.fromarray(x[i]).save(root / sub / f"{i:04d}.png")
    return root


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny model trained for 3 epochs (with --report), and the digits folders."""
    root = tmp_path_factory.mktemp("score")
    assert main(["train", *TRAIN, "--out-dir", str(root / "run"), "--report"]) == 0
    return {"model": root / "run" / "model.pt", "run": root / "run", "data": _digits_pngs(root / "digits"),
            "root": root}


@pytest.fixture(scope="module")
def scored(run):
    """`corel score` on the digits scenario, with a report and the fitted detector saved."""
    out = run["root"] / "scored"
    argv = ["score", str(run["model"]), "--inliers", str(run["data"] / "inliers"), "--images",
            str(run["data"] / "images"), "--out", str(out / "scores.csv"), "--report", "--save-detector",
            str(out / "det.pt"), "--no-progress", "--scorer", "count", "--tta", "off", "--contamination", "0.05"]
    assert main(argv) == 0
    rows = list(csv.DictReader(open(out / "scores.csv", newline="")))
    return {"out": out, "rows": rows, "summary": json.loads((out / "scores.json").read_text())}


def _auroc(rows) -> float:
    truth = ["others" in r["path"] for r in rows]
    return roc_auc_score(truth, [float(r["score"]) for r in rows])


def _cli(argv, capsys):
    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


# ----------------------------------------------------------------------------- the scenario
def test_digits_scenario_separates_zeros_from_other_digits(scored):
    rows, summary = scored["rows"], scored["summary"]
    assert len(rows) == 140 and list(rows[0]) == ["path", "score", "count", "verdict", "reason"]
    assert _auroc(rows) > 0.9                                   # the issue: "well above 0.8"
    for r in rows:                                              # count scorer: score = -count
        assert float(r["score"]) == -int(r["count"]) and r["verdict"] in ("novel", "normal") and r["reason"] == ""
        assert (r["verdict"] == "novel") == (float(r["score"]) > summary["threshold"])
    assert summary["threshold_source"].startswith("contamination 0.05")
    assert summary["n_scored"] == 140 and summary["n_unreadable"] == 0 and summary["n_inliers"] == 100
    novel = {r["path"] for r in rows if r["verdict"] == "novel"}
    assert sum("others" in p for p in novel) >= 60               # most other digits flagged
    assert len(summary["most_novel"]) == 12 and len(summary["least_novel"]) == 12
    assert all("others" in t["path"] for t in summary["most_novel"])
    assert all("zeros" in t["path"] for t in summary["least_novel"])
    # inliers' own leave-one-out scores: about the contamination share above the threshold
    loo = np.asarray(summary["inlier_loo_scores"])
    assert len(loo) == 100 and (loo > summary["threshold"]).mean() <= 0.06


def test_the_threshold_comes_from_the_inliers_or_is_given(run, scored, tmp_path):
    data = run["data"]
    s = run_score(detector=scored["out"] / "det.pt", images=data / "images", out=tmp_path / "a.csv",
                  opts=ScoreOptions(progress=False, contamination=0.2))
    assert s["threshold"] <= scored["summary"]["threshold"] and "contamination 0.2" in s["threshold_source"]
    s = run_score(detector=scored["out"] / "det.pt", images=data / "images", out=tmp_path / "b.csv",
                  opts=ScoreOptions(progress=False, threshold=-100.0))
    assert s["threshold"] == -100.0 and s["threshold_source"].startswith("given")
    rows = list(csv.DictReader(open(tmp_path / "b.csv")))
    assert all((r["verdict"] == "novel") == (float(r["score"]) > -100) for r in rows)


def test_report_of_the_scenario_renders_in_chromium(scored, tmp_path):
    from _browser import assert_renders
    html = scored["out"] / "report.html"
    text = html.read_text()
    assert "Most novel images" in text and "threshold" in text and "http://" not in text and "https://" not in text
    out = assert_renders(html, tmp_path, min_images=25)           # 24 thumbnails + the histogram
    assert sum(1 for img in out["images"] if img[1] > 0) == len(out["images"])


def test_train_report_flag_writes_the_training_page(run):
    html = (run["run"] / "report.html").read_text()
    assert "Loss curves" in html and "Death times" in html and html.count("data:image/png;base64,") >= 3


@pytest.mark.parametrize("scorer", [["--scorer", "soft"], ["--scorer", "knn-kth", "--k", "3"],
                                    ["--radius", "auto", "--aggregate", "mean"]])
def test_other_scorers(run, tmp_path, scorer, capsys):
    data = run["data"]
    code, out, err = _cli(["score", str(run["model"]), "--inliers", str(data / "inliers"), "--images",
                           str(data / "images"), "--out", str(tmp_path / "s.csv"), "--no-progress", *scorer], capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    assert len(rows) == 140 and _auroc(rows) > 0.85
    assert all(int(r["count"]) >= 0 for r in rows)
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["detector"]["scorer"] == scorer[1] or summary["detector"]["radius"] == "auto"


def test_test_time_views_score_as_the_detector_does(run, tmp_path, capsys):
    """--tta flips-shifts: every inlier in 6 views, each image's 6 views' scores summed; the same
    scores as CorelDetector(scorer="count", tta=...) on the same pixels, and a detector file keeps its views."""
    data = run["data"]
    argv = ["score", str(run["model"]), "--inliers", str(data / "inliers"), "--images", str(data / "images"),
            "--scorer", "knn-mean", "--tta", "flips-shifts", "--no-progress"]
    code, out, err = _cli([*argv, "--out", str(tmp_path / "s.csv"), "--save-detector", str(tmp_path / "d.pt")],
                          capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["n_inliers"] == 100 and summary["detector"]["tta"] == "flips-shifts"
    assert "test-time views hflip, shift(2,2)" in summary["scorer"] and _auroc(rows) > 0.85
    det = CorelDetector.load(tmp_path / "d.pt")
    assert det.tta == "flips-shifts" and det.inlier_codes_.shape[0] == 600 and len(det.training_scores_) == 100

    def pixels(paths):
        return torch.stack([torch.from_numpy(np.array(Image.open(p).resize((16, 16), Image.Resampling.BILINEAR)))
                            for p in paths]).unsqueeze(1).float() / 255
    inliers = sorted((data / "inliers").glob("*.png"))
    ref = CorelDetector(encoder=det.encoder, n_branches=4, scorer="knn-mean", tta="flips-shifts",
                        contamination=0.05).fit(pixels(inliers))
    np.testing.assert_allclose(det.training_scores_, ref.training_scores_, rtol=1e-5)
    paths = [r["path"] for r in rows[:8]]
    np.testing.assert_allclose([float(r["score"]) for r in rows[:8]], -ref.score_samples(pixels(paths)), rtol=1e-5)
    plain = list(csv.DictReader(open(_run_plain(argv, tmp_path, capsys))))
    assert [r["score"] for r in plain] != [r["score"] for r in rows]
    # a detector file's views are fixed: another --tta is one line
    code, out, err = _cli(["score", "--detector", str(tmp_path / "d.pt"), "--images", str(data / "images"),
                           "--tta", "flips", "--out", str(tmp_path / "x.csv")], capsys)
    assert code == 2 and "fitted with tta='flips-shifts'" in err and err.count("\n") == 1


def _run_plain(argv, tmp_path, capsys):
    out = tmp_path / "plain.csv"
    kept = [a for i, a in enumerate(argv) if a != "--tta" and (i == 0 or argv[i - 1] != "--tta")]
    code, _, err = _cli(kept + ["--tta", "off", "--out", str(out)], capsys)
    assert code == 0, err
    return out


# ----------------------------------------------------------------------------- detector files
def test_saved_detector_scores_without_inliers(run, scored, tmp_path, capsys):
    det_path = scored["out"] / "det.pt"
    raw = torch.load(det_path, weights_only=True)                 # plain data, no pickled code
    assert raw["encoder"]["name"] == "conv" and raw["meta"]["image_size"] == 16
    code, out, err = _cli(["score", "--detector", str(det_path), "--images", str(run["data"] / "images"),
                           "--out", str(tmp_path / "again.csv"), "--no-progress"], capsys)
    assert code == 0, err
    again = list(csv.DictReader(open(tmp_path / "again.csv")))
    assert again == scored["rows"]
    # The detector file as MODEL works too.
    assert main(["score", str(det_path), "--images", str(run["data"] / "images"), "--out",
                 str(tmp_path / "third.csv"), "--no-progress"]) == 0
    assert list(csv.DictReader(open(tmp_path / "third.csv"))) == scored["rows"]


def test_saved_detector_from_python(run, scored):
    det = CorelDetector.load(scored["out"] / "det.pt")
    assert isinstance(det.encoder, torch.nn.Module) and det.encoder_spec_[0] == "conv"
    paths = [Path(r["path"]) for r in scored["rows"][:10]]
    x = torch.stack([torch.from_numpy(np.array(Image.open(p).resize((16, 16), Image.Resampling.BILINEAR)))
                     for p in paths]).unsqueeze(1).float() / 255
    np.testing.assert_allclose(-det.score_samples(x), [float(r["score"]) for r in scored["rows"][:10]])


def test_save_detector_only(run, tmp_path, capsys):
    code, out, err = _cli(["score", str(run["model"]), "--inliers", str(run["data"] / "inliers"),
                           "--save-detector", str(tmp_path / "d.pt"), "--no-progress"], capsys)
    assert code == 0 and "100 inliers" in out and (tmp_path / "d.pt").is_file()


def test_detector_save_with_encoder_roundtrip(tmp_path):
    torch.manual_seed(0)
    ae = build_model("conv", in_channels=3, image_size=8, channels=[4, 8], n_branches=2, branch_dim=3)
    x = torch.rand(30, 3, 8, 8)
    det = CorelDetector(encoder=ae, n_branches=2, radius=1.0, scorer="soft").fit(x)
    det.save(tmp_path / "d.pt", with_encoder=True, meta={"note": "x", "sizes": (1, 2)})
    back = CorelDetector.load(tmp_path / "d.pt")
    assert back.encoder is not ae and back.encoder_spec_[1]["channels"] == [4, 8]
    assert back.meta_ == {"note": "x", "sizes": [1, 2]}
    np.testing.assert_array_equal(back.score_samples(x[:7]), det.score_samples(x[:7]))
    # without the encoder: the old behaviour, the codes only
    det.save(tmp_path / "codes.pt")
    assert CorelDetector.load(tmp_path / "codes.pt").encoder is None
    with pytest.raises(TypeError, match="encoder_spec"):       # a module corel cannot name
        CorelDetector(scorer="count", encoder=torch.nn.Flatten(), n_branches=2).fit(x[:, :, :2, :3]).save(tmp_path / "e.pt",
                                                                                         with_encoder=True)
    with pytest.raises(ValueError, match="nn.Module"):           # a plain function
        CorelDetector(scorer="count", encoder=lambda b: ae.encode(b), n_branches=2).fit(x).save(tmp_path / "e.pt", with_encoder=True)
    with pytest.raises(ValueError, match="nn.Module"):
        CorelDetector(scorer="count", n_branches=2).fit(np.zeros((4, 6))).save(tmp_path / "f.pt", with_encoder=True)


# ----------------------------------------------------------------------------- sources
def test_zip_and_file_list_give_the_same_scores(run, scored, tmp_path):
    images = run["data"] / "images"
    files = sorted(p for p in images.rglob("*.png"))
    with zipfile.ZipFile(tmp_path / "imgs.zip", "w") as zf:
        for p in files:
            zf.write(p, p.relative_to(images.parent).as_posix())
    (tmp_path / "list.txt").write_text("# images to score\n" + "\n".join(str(p) for p in files) + "\n\n")
    want = {Path(r["path"]).name: r["score"] for r in scored["rows"]}
    for source in (tmp_path / "imgs.zip", tmp_path / "list.txt"):
        run_score(detector=scored["out"] / "det.pt", images=source, out=tmp_path / f"{source.stem}.csv",
                  opts=ScoreOptions(progress=False))
        rows = list(csv.DictReader(open(tmp_path / f"{source.stem}.csv")))
        assert {r["path"].rsplit("/", 1)[-1]: r["score"] for r in rows} == want
    assert rows[0]["path"].endswith(".png")


def test_progress_bar_on_a_terminal_only(run, scored, tmp_path, capsys, monkeypatch):
    import corel._progress
    argv = ["score", "--detector", str(scored["out"] / "det.pt"), "--images", str(run["data"] / "images"),
            "--progress", "--batch-size", "32"]
    code, out, err = _cli(argv + ["--out", str(tmp_path / "log.csv")], capsys)     # stderr is not a terminal
    assert code == 0 and "img/s" not in err and "\r" not in err and "scored" in out
    monkeypatch.setattr(corel._progress, "on_terminal", lambda: True)
    code, out, err = _cli(argv + ["--out", str(tmp_path / "tty.csv")], capsys)
    assert code == 0 and "scoring" in err and "img" in err


def test_memory_does_not_grow_with_the_number_of_images(scored, tmp_path):
    """A file list of 300 or 3,000 images (one file listed again and again): the same peak memory."""
    png = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8), dtype=np.uint8)).save(png, format="PNG")
    (tmp_path / "one.png").write_bytes(png.getvalue())
    det = scored["out"] / "det.pt"
    peaks = []
    for n in (300, 3000):
        (tmp_path / f"list{n}.txt").write_text("one.png\n" * n)
        tracemalloc.start()
        run_score(detector=det, images=tmp_path / f"list{n}.txt", out=tmp_path / f"m{n}.csv",
                  opts=ScoreOptions(progress=False, batch_size=100))
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
        assert sum(1 for _ in open(tmp_path / f"m{n}.csv")) == n + 1
    assert peaks[1] < 1.3 * peaks[0] + 200_000, peaks


def test_read_batches_keeps_order_and_reasons(tmp_path):
    Image.new("L", (5, 7), 100).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png")
    Image.new("RGB", (16, 16), (10, 200, 30)).save(tmp_path / "c.jpg")
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / ".hidden.png").write_bytes(b"x")
    with open_images(tmp_path) as src:
        assert len(src) == 3 and src.skipped == 1
        batches = list(read_batches(src, 2, 8, 1))
    assert [len(b.names) for b in batches] == [2, 1]
    assert batches[0].reasons[1].startswith("not an image") and batches[0].images.shape == (1, 1, 8, 8)
    assert batches[1].images.shape == (1, 1, 8, 8)


# ----------------------------------------------------------------------------- bad inputs
def test_corrupt_and_unreadable_images_are_rows_with_a_reason(run, scored, tmp_path, capsys):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = sorted((run["data"] / "images" / "others").glob("*.png"))[:3]
    for p in good:
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "garbage.png").write_bytes(b"\x00\x01 definitely not an image")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.png").write_bytes(good[0].read_bytes()[:40])
    (folder / "readme.txt").write_text("not listed: other ending")
    code, out, err = _cli(["score", "--detector", str(scored["out"] / "det.pt"), "--images", str(folder),
                           "--out", str(tmp_path / "m.csv"), "--no-progress", "--report"], capsys)
    assert code == 0, err
    rows = {Path(r["path"]).name: r for r in csv.DictReader(open(tmp_path / "m.csv"))}
    assert len(rows) == 6 and "readme.txt" not in rows
    for name, words in (("garbage.png", "not an image"), ("empty.jpg", "empty file"), ("truncated.png", "")):
        r = rows[name]
        assert r["score"] == "" and r["count"] == "" and r["verdict"] == "unreadable" and words in r["reason"]
        assert r["reason"]
    assert all(rows[p.name]["verdict"] in ("novel", "normal") for p in good)
    assert "3 unreadable" in out and "3 of 6 images could not be read" in err
    assert all(line.startswith("corel score: warning: ") for line in err.strip().splitlines())
    html = (tmp_path / "report.html").read_text()
    assert "Unreadable files (3)" in html and "garbage.png" in html


def test_empty_folder_is_a_one_line_error(run, scored, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    code, out, err = _cli(["score", "--detector", str(scored["out"] / "det.pt"), "--images",
                           str(tmp_path / "empty"), "--out", str(tmp_path / "e.csv"), "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and "No images in folder" in err and "1 files with other endings" in err
    code, out, err = _cli(["score", str(run["model"]), "--inliers", str(tmp_path / "empty"), "--images",
                           str(run["data"] / "images"), "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and "No images" in err
    code, out, err = _cli(["score", str(run["model"]), "--inliers", str(tmp_path / "nowhere"), "--images",
                           str(run["data"] / "images"), "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and "does not exist" in err


def test_no_readable_inlier_is_a_one_line_error(run, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for k in range(3):
        (bad / f"{k}.png").write_bytes(b"junk" * k)
    code, out, err = _cli(["score", str(run["model"]), "--inliers", str(bad), "--images",
                           str(run["data"] / "images"), "--out", str(tmp_path / "x.csv"), "--no-progress"], capsys)
    assert code == 2 and "No readable inlier image" in err
    assert err.strip().splitlines()[-1].startswith("corel score: error: ")
    assert not (tmp_path / "x.csv").exists()


def test_grey_images_for_an_rgb_model_are_converted_with_a_warning(tmp_path, capsys):
    torch.manual_seed(0)
    args = dict(in_channels=3, image_size=16, channels=[8, 16, 32], n_branches=4, branch_dim=5)
    model = build_model("conv", **args)
    torch.save({"model_name": "conv", "model_args": args, "config": {"image_size": 16},
                "state_dict": model.state_dict()}, tmp_path / "rgb.pt")
    rng = np.random.default_rng(0)
    for sub, mode in (("grey", "L"), ("colour", "RGB")):
        (tmp_path / sub).mkdir()
        for k in range(6):
            shape = (16, 16) if mode == "L" else (16, 16, 3)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(tmp_path / sub / f"{k}.png")
    code, out, err = _cli(["score", str(tmp_path / "rgb.pt"), "--inliers", str(tmp_path / "colour"), "--images",
                           str(tmp_path / "grey"), "--out", str(tmp_path / "g.csv"), "--no-progress"], capsys)
    assert code == 0, err
    assert "6 of 6 images are grey, but the model was trained on RGB images" in err
    assert "inlier images are" not in err                    # the inliers match the model: no warning
    assert len(list(csv.DictReader(open(tmp_path / "g.csv")))) == 6
    # and colour images for a grey model
    model = build_model("conv", **{**args, "in_channels": 1})
    torch.save({"model_name": "conv", "model_args": {**args, "in_channels": 1}, "config": {},
                "state_dict": model.state_dict()}, tmp_path / "grey.pt")
    code, out, err = _cli(["score", str(tmp_path / "grey.pt"), "--inliers", str(tmp_path / "grey"), "--images",
                           str(tmp_path / "colour"), "--out", str(tmp_path / "c.csv"), "--no-progress"], capsys)
    assert code == 0 and "are in colour, but the model was trained on grey images" in err


@pytest.mark.parametrize("content", [b"model: conv\nepochs: 3\n", b"\x00\xff" * 100, b""])
def test_a_model_file_that_is_not_one(run, tmp_path, capsys, content):
    (tmp_path / "model.pt").write_bytes(content)
    code, out, err = _cli(["score", str(tmp_path / "model.pt"), "--inliers", str(run["data"] / "inliers"),
                           "--images", str(run["data"] / "images"), "--no-progress"], capsys)
    assert code == 2 and err.count("\n") == 1 and "not a corel checkpoint" in err


def test_argument_mistakes_are_one_line_errors(run, scored, tmp_path, capsys):
    data, det = run["data"], str(scored["out"] / "det.pt")
    cases = [
        (["score", "--images", str(data / "images")], "Pass MODEL"),
        (["score", str(run["model"]), "--images", str(data / "images")], "--inliers is required"),
        (["score", str(run["model"]), "--inliers", str(data / "inliers")], "Nothing to do"),
        (["score", "--detector", det, "--inliers", str(data / "inliers"), "--images", str(data / "images")],
         "already holds its inliers"),
        (["score", "--detector", str(run["model"]), "--images", str(data / "images")], "not a CorelDetector file"),
        (["score", "--detector", det, "--images", str(data / "images"), "--contamination", "0.9"],
         "--contamination must lie in (0, 0.5]"),
        (["score", "--detector", det, "--images", str(data / "inliers" / "0000.png")], "is one image"),
    ]
    for argv, words in cases:
        code, out, err = _cli([*argv, "--no-progress", "--out", str(tmp_path / "o.csv")], capsys)
        assert code == 2 and err.count("\n") == 1 and words in err, (argv, err)
    # a detector saved without its encoder
    CorelDetector(scorer="count", n_branches=4).fit(np.zeros((5, 20))).save(tmp_path / "codes.pt")
    code, out, err = _cli(["score", "--detector", str(tmp_path / "codes.pt"), "--images", str(data / "images"),
                           "--no-progress"], capsys)
    assert code == 2 and "holds no encoder" in err


def test_summary_path():
    assert summary_path("a/scores.csv") == Path("a/scores.json")
    assert summary_path("a/scores.tsv") == Path("a/scores.tsv.json")


def test_a_reference_folder_divides_the_knn_distances(run, tmp_path, capsys):
    """--reference: unlabelled images (here: digits of every class) the knn distances are divided
    by; the scores are CorelDetector's with fit(..., reference=...), and the file keeps them."""
    data = run["data"]
    argv = ["score", str(run["model"]), "--inliers", str(data / "inliers"), "--images", str(data / "images"),
            "--scorer", "knn-mean", "--tta", "off", "--pool-rule", "ratio", "--no-progress", "--reference",
            str(data / "images" / "others")]
    code, out, err = _cli([*argv, "--out", str(tmp_path / "s.csv"), "--save-detector", str(tmp_path / "d.pt")],
                          capsys)
    assert code == 0, err
    rows = list(csv.DictReader(open(tmp_path / "s.csv")))
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["n_reference"] == 70 and "70 unlabelled reference codes" in summary["scorer"]
    det = CorelDetector.load(tmp_path / "d.pt")
    assert det.reference_codes_.shape[0] == 70
    plain = list(csv.DictReader(open(_run_plain(argv[:-2], tmp_path, capsys))))
    assert [r["score"] for r in plain] != [r["score"] for r in rows]
    again = run_score(detector=tmp_path / "d.pt", images=data / "images", out=tmp_path / "b.csv",
                      opts=ScoreOptions(progress=False))
    assert again["n_scored"] == 140
    assert [r["score"] for r in csv.DictReader(open(tmp_path / "b.csv"))] == [r["score"] for r in rows]
    code, out, err = _cli(["score", str(run["model"]), "--inliers", str(data / "inliers"), "--images",
                           str(data / "images"), "--reference", str(data / "inliers"), "--scorer", "count", "--out",
                           str(tmp_path / "x.csv")], capsys)
    assert code == 2 and "add --scorer knn-mean" in err and err.count("\n") == 1
    code, out, err = _cli(["score", "--detector", str(tmp_path / "d.pt"), "--images", str(data / "images"),
                           "--reference", str(data / "inliers"), "--out", str(tmp_path / "y.csv")], capsys)
    assert code == 2 and "fit again" in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "0.png").write_bytes(b"junk")
    code, out, err = _cli([*argv[:-1], str(bad), "--out", str(tmp_path / "z.csv")], capsys)
    assert code == 2 and "No readable reference image" in err.strip().splitlines()[-1]
    assert "reference images could not be read" in err and not (tmp_path / "z.csv").exists()


def _script(name: str):
    """A module of the repository's scripts/ folder (not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_digits_example_writer_keeps_the_reference_apart(tmp_path):
    mod = _script("digits_pngs")
    root = mod.write_pngs(tmp_path / "d", n_reference=300)
    names = {sub: {p.name for p in (root / sub).rglob("*.png")} for sub in ("inliers", "images", "reference")}
    assert [len(names[s]) for s in ("inliers", "images", "reference")] == [100, 140, 300]
    assert not names["reference"] & (names["inliers"] | names["images"])
    from sklearn.datasets import load_digits
    labels = load_digits().target[[int(n[:4]) for n in names["reference"]]]
    assert len(set(labels.tolist())) == 10                      # every class, unlabelled


def test_the_defaults_are_the_safe_best_scorer(run, tmp_path, capsys):
    """No scorer flag: knn (mean of 5) in the flips-shifts views, contamination 0.1 as CorelDetector; a reference
    pool enters clipped (safe when it lacks the novelty) unless --pool-rule ratio is asked for."""
    data = run["data"]
    argv = ["score", str(run["model"]), "--inliers", str(data / "inliers"), "--images", str(data / "images"),
            "--no-progress"]
    code, out, err = _cli([*argv, "--out", str(tmp_path / "s.csv"), "--save-detector", str(tmp_path / "d.pt")],
                          capsys)
    assert code == 0, err
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["detector"]["scorer"] == "knn-mean" and summary["detector"]["tta"] == "flips-shifts"
    assert summary["threshold_source"].startswith("contamination 0.1")
    assert CorelDetector().contamination == 0.1 and CorelDetector().scorer == "knn-mean"
    assert _auroc(list(csv.DictReader(open(tmp_path / "s.csv")))) > 0.9
    # a saved detector keeps its views: no --tta needed, none refused
    code, out, err = _cli(["score", "--detector", str(tmp_path / "d.pt"), "--images", str(data / "images"),
                           "--no-progress", "--out", str(tmp_path / "again.csv")], capsys)
    assert code == 0, err
    code, out, err = _cli([*argv, "--reference", str(data / "images" / "others"), "--out", str(tmp_path / "r.csv"),
                           "--save-detector", str(tmp_path / "r.pt")], capsys)
    assert code == 0, err
    assert CorelDetector.load(tmp_path / "r.pt").pool_rule == "clip"
    assert "capped at the inliers' median" in json.loads((tmp_path / "r.json").read_text())["scorer"]


def test_an_output_of_another_run_is_not_overwritten(run, scored, tmp_path, capsys):
    # The same command again may replace its own scores; another run (here: another contamination,
    # then another image set) or a file corel did not write is refused in one line, and kept.
    det, images = str(scored["out"] / "det.pt"), str(run["data"] / "images")
    out = tmp_path / "s.csv"
    argv = ["score", "--detector", det, "--images", images, "--out", str(out), "--no-progress"]
    assert _cli(argv, capsys)[0] == 0
    before = out.read_bytes()
    assert _cli(argv, capsys)[0] == 0                                   # the same run: replaced
    for extra, differs in [(["--contamination", "0.2"], "threshold_source differs"),
                           (["--images", str(run["data"] / "inliers")], "images")]:
        code, _, err = _cli(argv + extra, capsys)
        assert code == 2 and len(err.strip().splitlines()) == 1 and differs in err and "another --out" in err, err
        assert out.read_bytes() == before
    foreign = tmp_path / "mine.csv"
    foreign.write_text("a user's own table\n")
    code, _, err = _cli(["score", "--detector", det, "--images", images, "--out", str(foreign)], capsys)
    assert code == 2 and "not the output of corel score" in err
    assert foreign.read_text() == "a user's own table\n"


def test_a_report_of_another_run_is_not_overwritten(run, scored, tmp_path, capsys):
    # --report FILE may replace the report of the same scores, not another run's page or a user's file;
    # the refusal comes before any scoring (no scores written).
    det, images = str(scored["out"] / "det.pt"), str(run["data"] / "images")
    page = tmp_path / "page.html"
    argv = ["score", "--detector", det, "--images", images, "--no-progress", "--report", str(page)]
    assert _cli([*argv, "--out", str(tmp_path / "a.csv")], capsys)[0] == 0
    assert _cli([*argv, "--out", str(tmp_path / "a.csv")], capsys)[0] == 0        # the same run: replaced
    before = page.read_bytes()
    code, _, err = _cli([*argv, "--out", str(tmp_path / "b.csv")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "report of another run" in err, err
    assert page.read_bytes() == before and not (tmp_path / "b.csv").exists()
    mine = tmp_path / "mine.html"
    mine.write_text("<html>a user's page</html>")
    code, _, err = _cli([*argv, "--out", str(tmp_path / "c.csv"), "--report", str(mine)], capsys)
    assert code == 2 and "not a corel report that names its source" in err and mine.read_text() == "<html>a user's page</html>"
    # corel report follows the same rule; the same source under another spelling (its CSV) is the same run
    assert _cli(["report", str(tmp_path / "a.csv"), "--out", str(page)], capsys)[0] == 0
    code, _, err = _cli(["report", str(run["run"]), "--out", str(page)], capsys)
    assert code == 2 and "report of another run" in err
    # a page names its source relative to itself: a copied (or cloned) folder keeps its page replaceable
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("a.csv", "a.json", "page.html"):
        shutil.copy(tmp_path / name, copy / name)
    assert _cli(["report", str(copy / "a.csv"), "--out", str(copy / "page.html")], capsys)[0] == 0
    code, _, err = _cli(["report", str(tmp_path / "a.csv"), "--out", str(copy / "page.html")], capsys)
    assert code == 2 and "report of another run" in err


def test_a_detector_file_of_another_fit_is_not_overwritten(run, tmp_path, capsys):
    argv = ["score", str(run["model"]), "--inliers", str(run["data"] / "inliers"), "--no-progress", "--tta", "off",
            "--save-detector", str(tmp_path / "d.pt")]
    assert _cli(argv, capsys)[0] == 0
    assert _cli(argv, capsys)[0] == 0                                   # the same fit: replaced
    before = (tmp_path / "d.pt").read_bytes()
    code, _, err = _cli([*argv, "--k", "3", "--scorer", "knn-mean"], capsys)
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1 and "another fitted detector (its k differs)" in errors[0], err
    assert (tmp_path / "d.pt").read_bytes() == before
    (tmp_path / "notes.pt").write_text("not a detector")
    code, _, err = _cli([*argv[:-1], str(tmp_path / "notes.pt")], capsys)
    assert code == 2 and "not a corel detector file" in err and (tmp_path / "notes.pt").read_text() == "not a detector"


def test_the_ship_scenario_writer_draws_its_folders_and_more_pools(tmp_path):
    """scripts/ship_scenario.py on a small train.zip / test.zip in the CIFAR-10 JPEG copy's layout."""
    import zipfile
    mod = _script("ship_scenario")
    classes = ["ship", "cat"]
    for split, per_class in (("train", 1200), ("test", 250)):
        with zipfile.ZipFile(tmp_path / f"{split}.zip", "w") as zf:
            for c in classes:
                for i in range(per_class):
                    zf.writestr(f"{split}/{c}/{i:05d}.jpg", f"{split} {c} {i}")
    mod.build(tmp_path, tmp_path / "s")
    counts = {sub: len(list((tmp_path / "s" / sub).rglob("*.jpg"))) for sub in ("inliers", "images/ship", "images/other", "pool")}
    assert counts == {"inliers": 120, "images/ship": 200, "images/other": 203, "pool": 2000}
    assert all((tmp_path / "s" / "inliers" / f"{i}.jpg").read_bytes().startswith(b"train ship") for i in range(120))
    mod.pools(2, tmp_path, tmp_path / "s")
    drawn = [sorted(p.read_bytes() for p in (tmp_path / "s" / f"pool-{k}").iterdir()) for k in (1, 2)]
    assert len(drawn[0]) == len(drawn[1]) == 2000 and drawn[0] != drawn[1]
    again = tmp_path / "again"
    mod.pools(1, tmp_path, again)
    assert sorted(p.read_bytes() for p in (again / "pool-1").iterdir()) == drawn[0]     # seeded: the same draw
    with pytest.raises(FileExistsError):
        mod.pools(1, tmp_path, again)                                                    # never writes over a pool
