"""`corel export`: ONNX and TorchScript encoders whose codes agree with PyTorch's, and score like it."""
import warnings

import numpy as np
import pytest
import torch

import corel
from corel.apps.cli import main

ort = pytest.importorskip("onnxruntime", reason="the ONNX round trip needs onnxruntime (pip install corel[export])")


def test_onnx_and_torchscript_codes_agree_with_pytorch(tmp_path, capsys):
    onnx_path, ts_path = tmp_path / "enc.onnx", tmp_path / "enc.pt"
    assert main(["export", "cifar10-contrastive", "--onnx", str(onnx_path), "--torchscript", str(ts_path)]) == 0
    assert "codes of size 160" in capsys.readouterr().out
    model = corel.load_model("cifar10-contrastive")
    x = torch.rand(9, 3, 32, 32, generator=torch.Generator().manual_seed(0))     # another batch size than traced
    with torch.no_grad():
        want = model.encode(x).numpy()
    session = ort.InferenceSession(str(onnx_path))
    got = session.run(None, {"images": x.numpy()})[0]
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["corel.image_size"] == "32" and meta["corel.channels"] == "3" and meta["corel.n_branches"] == "16"
    with warnings.catch_warnings():     # torch 2.13 marks TorchScript deprecated; the file still loads and runs
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.load(str(ts_path))
    np.testing.assert_allclose(scripted(x).detach().numpy(), want, atol=1e-6, rtol=0)
    # scoring from the exported encoder's codes: the same scores as the detector with the PyTorch encoder
    inl = torch.rand(40, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    codes = lambda images: session.run(None, {"images": images.numpy()})[0]
    by_codes = corel.CorelDetector().fit(codes(inl)).score_samples(codes(x))
    by_model = corel.CorelDetector(encoder="cifar10-contrastive").fit(inl, reference=False).score_samples(x)
    np.testing.assert_allclose(by_codes, by_model, rtol=1e-4)


def test_export_errors_are_one_line(tmp_path, capsys):
    (tmp_path / "there.onnx").write_bytes(b"x")
    for args, message in [(["cifar10-paper"], "Nothing to export"),
                          (["cifar10-paper", "--onnx", str(tmp_path / "there.onnx")], "--force"),
                          (["no-such-model", "--onnx", str(tmp_path / "a.onnx")], "shipped models")]:
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err


def test_the_shipped_pair_exports_as_one_encoder(tmp_path, capsys):
    # A stack (cifar10-pair: two encoders side by side) exports as one graph whose codes are
    # both parts' codes, in the stack's order.
    onnx_path = tmp_path / "pair.onnx"
    assert main(["export", "cifar10-pair", "--onnx", str(onnx_path)]) == 0
    assert "codes of size 320" in capsys.readouterr().out
    model = corel.load_model("cifar10-pair")
    x = torch.rand(5, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        want = model.encode(x).numpy()
        first = corel.load_model("cifar10-contrastive-wide").encode(x).numpy()
    got = ort.InferenceSession(str(onnx_path)).run(None, {"images": x.numpy()})[0]
    # The first encoder's codes (scale ~1) agree to 1e-5. The second one's reach |140| (no connectivity
    # loss keeps their scale), where one float32 ulp is 1.5e-5 and a small code is the difference of
    # large partial sums: its bound is 1e-6 of that scale, about 10 ulps (seen: 1.3e-5 at scale 142).
    np.testing.assert_allclose(got[:, :160], want[:, :160], atol=1e-5, rtol=0)
    scale = float(np.abs(want[:, 160:]).max())
    np.testing.assert_allclose(got[:, 160:], want[:, 160:], atol=1e-6 * scale, rtol=0)
    np.testing.assert_allclose(got[:, :160], first, atol=1e-5, rtol=0)
