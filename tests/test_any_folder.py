"""Training on any folder or zip of unlabelled images, named recipes, and images to arrays in the API."""
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

import corel
from corel.apps.cli import main
from corel.training.config import RECIPES, TrainConfig
from corel.data import load_dataset

pytestmark = pytest.mark.usefixtures("one_thread")


def _pictures(root, n=60, nested=True):
    rng = np.random.default_rng(0)
    for i in range(n):
        sub = root / (f"day{i % 3}/cam" if nested else "")
        sub.mkdir(parents=True, exist_ok=True)
        size = (20, 24) if i % 5 else (40, 40)                        # mixed sizes
        pixels = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
        img = Image.fromarray(pixels)
        (img.convert("L") if i % 7 == 0 else img).save(sub / f"{i}.png")   # some grey
    (root / "notes.txt").write_text("not an image")
    (root / "broken.png").write_bytes(b"not a png")
    return root


def test_a_plain_folder_and_a_zip_of_it_load_alike(tmp_path):
    folder = _pictures(tmp_path / "pics")
    with pytest.warns(UserWarning, match="1 of 61 files .* could not be read"):
        a = load_dataset("images", root=folder, image_size=16)
    assert a.images.shape == (60, 3, 16, 16) and a.classes == ["unlabelled"] and set(a.labels.tolist()) == {0}
    z = tmp_path / "pics.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, p.relative_to(folder))
    with pytest.warns(UserWarning):
        b = load_dataset("images", root=z, image_size=16)
    assert torch.equal(a.images, b.images)
    x = corel.load_images(folder / "day0", image_size=16)
    assert x.dtype == torch.float32 and x.shape == (20, 3, 16, 16) and 0 <= float(x.min()) and float(x.max()) <= 1


def test_corel_train_takes_a_folder_without_classes(tmp_path):
    folder = _pictures(tmp_path / "pics")
    out = tmp_path / "run"
    with pytest.warns(UserWarning):
        assert main(["train", "--dataset", "images", "--data-root", str(folder), "--image-size", "16", "--channels",
                     "8,16,32", "--n-branches", "4", "--branch-dim", "5", "--batch-size", "20", "--epochs", "1",
                     "--threads", "1", "--no-progress-bar", "--recipe", "contrastive", "--out-dir", str(out)]) == 0
    cfg = torch.load(out / "model.pt", weights_only=True)["config"]
    assert cfg["recipe"] == "contrastive" and cfg["contrastive"] == 300.0 and cfg["epochs"] == 1   # the flag won
    x = corel.load_images(folder, image_size=16)
    det = corel.CorelDetector(encoder=corel.load_model(out / "model.pt"), n_branches=4).fit(x[:40])
    assert det.score_samples(x[40:]).shape == (20,)


def test_recipes_set_their_keys_and_flags_win():
    assert TrainConfig.from_dict({"recipe": "paper"}) == TrainConfig().validate()
    best = TrainConfig.from_dict({"recipe": "contrastive", "temperature": 0.2})
    assert best.contrastive == RECIPES["contrastive"]["contrastive"] and best.temperature == 0.2
    with pytest.raises(ValueError, match="Unknown recipe"):
        TrainConfig.from_dict({"recipe": "best-ever"})


def test_an_empty_folder_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "--dataset", "images", "--data-root", str(tmp_path / "empty"), "--out-dir",
                 str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "No images" in err[0]


def test_the_detector_takes_paths(tmp_path):
    folder = _pictures(tmp_path / "pics", n=30, nested=False)
    with pytest.warns(UserWarning):
        det = corel.CorelDetector(encoder="cifar10-contrastive").fit(folder)
    with pytest.warns(UserWarning):
        x = corel.load_images(folder, image_size=32)
    np.testing.assert_allclose(det.score_samples(x[:5]), corel.CorelDetector(encoder="cifar10-contrastive")
                               .fit(x).score_samples(x[:5]))
    with pytest.raises(ValueError, match="pass arrays"):
        corel.CorelDetector(n_branches=2).fit(str(folder))
