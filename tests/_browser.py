"""Open an HTML report in headless Chromium: screenshot, console messages, and whether each image rendered.

Used by tests/test_report.py and tests/test_score.py. Skips (with the reason) where Debian's
``chromium`` is not installed; ``.ci/run`` installs it when it can.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = os.environ.get("COREL_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
         "--disable-extensions", "--mute-audio"]

# Injected into a copy of the page (the report itself has no script): after the load event, the
# state of every <img> goes into an attribute that --dump-dom prints.
_PROBE = ("<script>window.addEventListener('load', function () {"
          "var r = Array.prototype.map.call(document.images, function (i) {"
          "return [i.complete, i.naturalWidth, i.naturalHeight, i.getAttribute('alt') || ''];});"
          "document.body.setAttribute('data-corel-images', JSON.stringify(r));});</script>")


def require_chromium() -> str:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"headless Chromium not found at {CHROMIUM} (Debian package 'chromium'; .ci/run installs it "
                    f"with apt-get where it can): the browser check of the HTML report is skipped")
    return CHROMIUM


def _run(args, tmp: Path, timeout: int = 90) -> subprocess.CompletedProcess:
    profile = tmp / f"chromium-profile-{len(list(tmp.glob('chromium-profile-*')))}"
    cmd = [require_chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "HOME": str(tmp)})


def open_in_browser(html: Path, tmp: Path, width: int = 1280, height: int = 2000) -> dict:
    """{"screenshot": Path, "console": [messages], "images": [[complete, w, h, alt], ...]} of ``html``."""
    html, tmp = Path(html).resolve(), Path(tmp)
    tmp.mkdir(parents=True, exist_ok=True)
    shot = tmp / (html.stem + ".png")
    res = _run(["--enable-logging=stderr", "--v=0", f"--window-size={width},{height}", f"--screenshot={shot}",
                "--virtual-time-budget=5000", html.as_uri()], tmp)
    console = [line for line in res.stderr.splitlines() if ":CONSOLE" in line]

    page = html.read_text(encoding="utf-8")
    probe_page = page if "script-src 'unsafe-inline'" in page else \
        page.replace("style-src 'unsafe-inline'", "style-src 'unsafe-inline'; script-src 'unsafe-inline'", 1)
    probe_page = probe_page.replace("</body>", _PROBE + "</body>", 1)
    probe = tmp / (html.stem + ".probe.html")
    probe.write_text(probe_page, encoding="utf-8")
    dom = _run(["--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], tmp).stdout
    m = re.search(r'data-corel-images="([^"]*)"', dom)
    images = json.loads(m.group(1).replace("&quot;", '"').replace("&amp;", "&")) if m else None
    return {"screenshot": shot, "console": console, "images": images, "returncode": res.returncode,
            "sortable_ready": 'data-sortable="ready"' in dom}


def assert_renders(html: Path, tmp: Path, min_images: int = 1) -> dict:
    """The page loads without console messages, every image decodes, the screenshot is not blank."""
    from PIL import Image
    out = open_in_browser(html, tmp)
    assert out["console"] == [], f"console messages while loading {html}: {out['console']}"
    assert out["images"] is not None, "the probe script did not run (no data-corel-images in the DOM)"
    assert len(out["images"]) >= min_images, out["images"]
    broken = [img for img in out["images"] if not (img[0] and img[1] > 0 and img[2] > 0)]
    assert broken == [], f"images that did not render: {broken}"
    assert out["screenshot"].is_file(), "no screenshot written"
    with Image.open(out["screenshot"]) as shot:
        pixels = np.asarray(shot.convert("L"), dtype=np.float64)
    assert pixels.std() > 5, "the screenshot is blank"
    return out
