"""`corel report` and the --report options: kind detection, self-contained pages, rendering in Chromium."""
from __future__ import annotations

import base64
import csv
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from corel.apps.cli import main
from corel.training.models import build_model
from corel.apps.report import detect_kind, render_report, write_report

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:KDEDetector. the cross-validated bandwidth:UserWarning")]

MODEL_ARGS = dict(in_channels=1, image_size=16, channels=[8, 16, 32], n_branches=4, branch_dim=5)


@pytest.fixture(scope="module")
def model_pt(tmp_path_factory):
    """An untrained (seeded) model in model.pt's format: enough to exercise evaluate and compare."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save({"model_name": "conv", "model_args": MODEL_ARGS, "state_dict": build_model("conv", **MODEL_ARGS)
                .state_dict(), "config": {"dataset": "digits", "image_size": 16, "lam": 20.0}}, path)
    return path


def _png(color=(200, 40, 40), size=(40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def assert_self_contained(html: str, min_images: int, scripts: int = 0) -> None:
    """Only data: URIs, every image a decodable PNG, no script but ``scripts`` inline ones (the score page's
    table sorting), the CSP that forbids other loads."""
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert html.lower().count("<script") == scripts and not re.search(r"<script[^>]*src=", html, re.I)
    urls = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert len(urls) >= min_images
    for url in urls:
        assert url.startswith("data:image/png;base64,"), url[:60]
        with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as img:
            img.load()
            assert img.format == "PNG" and min(img.size) > 0
    assert not re.search(r"https?://", html)


# ----------------------------------------------------------------------------- synthetic run folders
def _train_dir(root: Path) -> Path:
    """A training run resumed once: epochs 0-2 in version_0, 2-3 (2 again) in version_1."""
    run = root / "train"
    header = "conn,death_max,death_mean,death_min,epoch,epoch_time_s,loss_epoch,loss_step,rec,step"
    v0 = [",,,,0,,,50.0,,9", "10,3,1.0,0.1,0,1.5,40,,20,9", ",,,,1,,,30.0,,19", "8,3,1.5,0.2,1,1.4,30,,15,19",
          "7,3,1.7,0.2,2,1.4,99,,14,29"]
    v1 = ["7,3,1.8,0.3,2,1.3,25,,13,29", ",,,,3,,,22.0,,39", "6,3,1.9,0.3,3,1.3,22,,12,39"]
    for name, rows in (("version_0", v0), ("version_1", v1)):
        (run / "logs" / name).mkdir(parents=True)
        (run / "logs" / name / "metrics.csv").write_text("\n".join([header, *rows]) + "\n")
    (run / "logs" / "version_1" / "hparams.yaml").write_text(
        "config:\n  dataset: digits\n  eta: 2.0\n  lam: 20.0\n  channels: [8, 16]\nmodel_name: conv\n")
    (run / "death_histogram.png").write_bytes(_png())
    return run


def _evaluate_dir(root: Path) -> Path:
    out = root / "evaluate"
    for n, pub in ((120, 75.96), (500, None)):
        d = out / f"n{n}"
        d.mkdir(parents=True)
        rows = [{"class": c, "mean": 70.0 + i, "std": 0.5, "draw_0": 70.0 + i, "draw_1": 70.5 + i}
                for i, c in enumerate(["airplane", "<b>cat</b>"])]
        (d / "per_class.json").write_text(json.dumps(rows))
        (d / "summary.json").write_text(json.dumps({"mean_auroc": 70.5, "std_auroc": 0.4, "n": n, "draws": 2,
                                                    "radius": 2.0, "dataset": "cifar10-jpeg", "lam": 20.0,
                                                    "trained_on": "cifar10-jpeg", "published_mean_auroc": pub}))
        (d / "auroc_per_class.png").write_bytes(_png())
        (d / "roc_curves.png").write_bytes(_png((30, 90, 200)))
    (out / "codes").mkdir()
    return out


def _score_dir(root: Path) -> Path:
    out = root / "score"
    out.mkdir()
    with open(out / "scores.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "score", "count", "verdict", "reason"])
        (out / "img").mkdir()
        for k in range(20):
            (out / "img" / f"{k}.png").write_bytes(_png(size=(8, 8)))   # the table's thumbnails read them
            w.writerow([f"{out}/img/{k}.png", -k, k, "novel" if -k > -5 else "normal", ""])
        w.writerow(["img/bad.png", "", "", "unreadable", "not an image Pillow can read"])
    thumb = base64.b64encode(_png(size=(8, 8))).decode()
    summary = {"kind": "corel-score", "version": 1, "csv": "scores.csv", "images": "img", "n_files": 21,
               "n_scored": 20, "n_unreadable": 1, "n_novel": 5, "threshold": -5.0,
               "threshold_source": "contamination 0.05: ...", "detector": {"n_branches": 4, "radius": 2.0},
               "scorer": "count (radius 2)", "image_size": 16, "channels": 1, "conversions": [],
               "inlier_loo_scores": [-10.0, -12.0, -4.0], "n_inliers": 3, "model": "model.pt",
               "unreadable": [{"path": "img/bad.png", "reason": "not an image Pillow can read"}],
               "most_novel": [{"path": "img/0.png", "score": 0.0, "count": 0, "png_base64": thumb}],
               "least_novel": [{"path": "img/19.png", "score": -19.0, "count": 19, "png_base64": thumb}]}
    (out / "scores.json").write_text(json.dumps(summary))
    return out


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    return {"train": _train_dir(root), "evaluate": _evaluate_dir(root), "score": _score_dir(root), "root": root}


# ----------------------------------------------------------------------------- detection
def test_detect_kind(dirs):
    # a folder of several runs with evaluations below (as `corel demo` writes): all its evaluations
    assert detect_kind(dirs["root"]) == ("evaluate", dirs["root"])
    assert detect_kind(dirs["train"]) == ("train", dirs["train"])
    assert detect_kind(dirs["evaluate"]) == ("evaluate", dirs["evaluate"])
    assert detect_kind(dirs["evaluate"] / "n120") == ("evaluate", dirs["evaluate"] / "n120")
    assert detect_kind(dirs["score"]) == ("score", dirs["score"] / "scores.json")
    assert detect_kind(dirs["score"] / "scores.csv") == ("score", dirs["score"] / "scores.json")
    (dirs["root"] / "other").mkdir(exist_ok=True)
    (dirs["root"] / "other" / "notes.json").write_text("{}")
    with pytest.raises(ValueError, match="is not a corel run folder") as err:
        detect_kind(dirs["root"] / "other")
    assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError):
        detect_kind(dirs["root"] / "nowhere")


def test_report_command_and_its_errors(dirs, tmp_path, capsys):
    assert main(["report", str(dirs["train"]), "--out", str(tmp_path / "t.html")]) == 0
    assert "report written to" in capsys.readouterr().out and (tmp_path / "t.html").is_file()
    assert main(["report", str(dirs["score"])]) == 0 and (dirs["score"] / "report.html").is_file()
    (tmp_path / "other").mkdir()
    for argv, words in ((["report", str(tmp_path / "other")], "not a corel run folder"),
                        (["report", str(tmp_path / "missing")], "does not exist"),
                        (["report", str(dirs["train"]), "--kind", "score"], "looks like a train folder")):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err and err.startswith("corel report: error: ")


# ----------------------------------------------------------------------------- contents
def test_train_page(dirs):
    html = render_report(dirs["train"])
    assert_self_contained(html, min_images=3)        # loss curves, death times, the histogram
    assert "Loss curves" in html and "Death-time histogram" in html
    assert re.search(r'<div class="v">4</div><div class="l">epochs</div>', html)   # epoch 2 resumed: counted once
    assert "<td>channels</td><td>8, 16</td>" in html and "6 s" in html            # 1.5 + 1.4 + 1.3 + 1.3 s


def test_evaluate_page(dirs):
    html = render_report(dirs["evaluate"])
    assert_self_contained(html, min_images=4)
    assert "Overview" in html and "75.96" in html and "not published for this setting" in html
    assert "&lt;b&gt;cat&lt;/b&gt;" in html and "<b>cat</b>" not in html    # names are escaped


def test_score_page(dirs):
    html = render_report(dirs["score"])
    assert_self_contained(html, min_images=3, scripts=1)
    assert "Most novel images" in html and "img/0.png" in html and "Unreadable files (1)" in html
    # every scored image is in the table, most novel first; no neighbour count beside a non-count scorer... here
    # the scorer is the count, so the count shows
    assert "Every scored image (20)" in html and html.count('<tr><td class="thumb">') == 20
    table = html[html.index('id="all-scores"'):]
    assert table.index("img/0.png<") < table.index("img/19.png<")
    assert table.count('<td class="thumb"><img') == 5               # the 5 flagged images, with thumbnails
    assert "threshold -5" in html or "-5" in html


# ----------------------------------------------------------------------------- the --report options
def test_evaluate_report_option(model_pt, tmp_path, capsys):
    out = tmp_path / "ev"
    assert main(["evaluate", str(model_pt), "--dataset", "digits", "--n", "20,40", "--draws", "2", "--threads", "1",
                 "--no-progress", "--out-dir", str(out), "--report"]) == 0
    assert f"report written to {out / 'report.html'}" in capsys.readouterr().out
    html = (out / "report.html").read_text()
    assert_self_contained(html, min_images=4)
    assert "n20" in html and "n40" in html and "One-class evaluation" in html


def test_compare_report_option_renders_in_chromium(model_pt, tmp_path, capsys):
    from _browser import assert_renders
    out = tmp_path / "cmp"
    assert main(["compare", "--dataset", "digits", "--methods", "corel,kde-codes", "--profile", "smoke",
                 "--checkpoint", str(model_pt), "--image-size", "16", "--n", "20", "--draws", "1", "--threads", "1",
                 "--out-dir", str(out), "--report", str(tmp_path / "compare.html")]) == 0
    html = (tmp_path / "compare.html").read_text()
    assert_self_contained(html, min_images=1)
    assert "COREL" in html and "KDE" in html
    assert_renders(tmp_path / "compare.html", tmp_path / "browser", min_images=1)


def test_train_and_evaluate_pages_render_in_chromium(dirs, tmp_path):
    from _browser import assert_renders
    for kind in ("train", "evaluate", "score"):
        page = write_report(dirs[kind], tmp_path / f"{kind}.html")
        out = assert_renders(page, tmp_path / "browser")
        with Image.open(out["screenshot"]) as shot:
            assert shot.size == (1280, 2000)
        if kind == "score":     # the table's sorting script ran, without a console message
            assert out["sortable_ready"]


def test_browser_check_catches_broken_images_and_network_loads(tmp_path):
    """The check itself: a broken image and a blocked network load are both reported."""
    from _browser import open_in_browser
    page = write_report(_score_dir(tmp_path), tmp_path / "ok.html").read_text()
    bad = page.replace("data:image/png;base64,", "data:image/png;base64,AAAA", 1)
    bad = bad.replace("</body>", '<img src="http://example.invalid/x.png" alt="remote"></body>', 1)
    (tmp_path / "bad.html").write_text(bad)
    out = open_in_browser(tmp_path / "bad.html", tmp_path / "browser")
    assert any(img[1] == 0 for img in out["images"])
    assert any("Content Security Policy" in line for line in out["console"])
