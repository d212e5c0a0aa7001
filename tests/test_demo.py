"""`corel demo` on the CIFAR-10 sample that ships with the package."""
import json
import zipfile

import numpy as np
import pytest

from corel.apps.cli import main
from corel.apps.demo import N_INLIERS, sample_path


def test_the_shipped_sample_is_150_test_images_of_each_class():
    with zipfile.ZipFile(sample_path()) as z:
        names = [n for n in z.namelist() if n.endswith(".jpg")]
    classes = sorted({n.split("/")[0] for n in names})
    assert classes == ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert all(sum(n.startswith(c + "/") for n in names) == 150 for c in classes)


@pytest.mark.slow
def test_demo_shows_the_learned_encoder_above_raw_pixels_and_writes_a_report(tmp_path, capsys):
    assert main(["demo", "--no-progress", "--threads", "1", "--out-dir", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    result = json.loads((tmp_path / "demo.json").read_text())
    means = {row["method"]: row["mean_auroc"] for row in result["rows"]}
    pixels, paper, best = (means[m] for m in list(means)[:3])
    assert best > paper > pixels + 5           # what the demo is there to show
    tiny = next(m for m in means if "tinyimagenet" in m)
    pair = next(m for m in means if "cifar10-pair" in m)
    assert means[tiny] > paper                 # the TinyImageNet encoder, which never saw CIFAR-10
    assert means[pair] > best                  # the two wide encoders with their pool, above the default
    assert f"{best:.1f}" in printed and "report.html" in printed
    assert (tmp_path / "report.html").is_file()
    inliers = list((tmp_path / "ship" / "inliers").iterdir())
    images = list((tmp_path / "ship" / "images").iterdir())
    assert len(inliers) == N_INLIERS and len(images) == 1400
    assert not {p.name for p in inliers} & {p.name for p in images}
    flagged = result["report"]["flagged_by_class"]
    assert flagged["ship"]["of"] == 50 and sum(v["of"] for v in flagged.values()) == 1400
    # another seed in the same folder: other inliers, no file of the first run left among them
    assert main(["demo", "--no-progress", "--seed", "1", "--out-dir", str(tmp_path)]) == 0
    again = {p.name for p in (tmp_path / "ship" / "inliers").iterdir()}
    assert len(again) == N_INLIERS and again != {p.name for p in inliers}
    assert np.isfinite(json.loads((tmp_path / "demo.json").read_text())["rows"][0]["mean_auroc"])
