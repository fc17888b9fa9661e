import base64
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from lifting.errors import UserError
from lifting.geometry.skeletons import H36M_17
from lifting.viewer import write_html

RNG = np.random.default_rng(0)
POSE = RNG.normal(0, 200, (17, 3)) + [0, 0, 5000]


def sequence(frames: int = 3):
    """(T, 2, 17, 3) mm camera frame: two people 1.5 m apart walking right; person 1 absent in frame 0."""
    poses = np.stack([POSE, POSE + [1500, 0, 0]])[None] + np.arange(frames)[:, None, None, None] * [100, 0, 0]
    poses[0, 1] = np.nan
    joints2d = poses[..., :2] / poses[..., 2:] * 1000 + 500
    return poses, joints2d


def plotly_figure(html: str) -> dict:
    """The figure JSON that plotly writes into the page's Plotly.newPlot call."""
    call = html[html.index("Plotly.newPlot("):]
    decoder = json.JSONDecoder()
    rest = call[call.index("[", call.index(",")):]
    data, end = decoder.raw_decode(rest)
    layout, _ = decoder.raw_decode(rest[end:].lstrip(", "))
    return {"data": data, "layout": layout}


def values(v) -> np.ndarray:
    """A plotly array from the page: a list, or a typed array {'dtype', 'bdata' (base64), 'shape'}."""
    if isinstance(v, dict):
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"])
        return arr.reshape([int(n) for n in str(v.get("shape", len(arr))).split(",")])
    return np.asarray(v)


def test_page_is_self_contained_with_frames_hover_and_fitted_equal_axes(tmp_path):
    poses, joints2d = sequence()
    path = write_html(tmp_path / "view.html", poses, "h36m_17", joints2d=joints2d, track_ids=[4, 9])
    html = path.read_text()
    assert not re.search(r"<script[^>]+src=", html) and "plotly.js v" in html  # plotly.js inline: no network
    assert html.count("Plotly.addFrames") == 1 and '"name":"2"' in html  # one frame per time step for the slider
    fig = plotly_figure(html)
    markers3d = [t for t in fig["data"] if t["type"] == "scatter3d" and t["mode"] == "markers"]
    assert [t["name"] for t in markers3d] == ["person 4", "person 9"]
    assert markers3d[0]["text"] == list(H36M_17.joint_names) and "mm" in markers3d[0]["hovertemplate"]
    # Upright camera frame: plot z is -y, plot y is the depth.
    np.testing.assert_allclose(values(markers3d[0]["z"]), -poses[0, 0, :, 1])
    np.testing.assert_allclose(values(markers3d[0]["y"]), poses[0, 0, :, 2])
    np.testing.assert_allclose(values(markers3d[0]["customdata"]), poses[0, 0])  # hover: the camera-frame mm
    scene = fig["layout"]["scene"]
    spans = np.array([np.diff(scene[f"{a}axis"]["range"])[0] for a in "xyz"])
    ratios = np.array([scene["aspectratio"][a] for a in "xyz"])
    np.testing.assert_allclose(ratios / ratios.max(), spans / spans.max())  # one mm is one length on every axis
    points = np.stack([poses[..., 0], poses[..., 2], -poses[..., 1]], -1)
    lo, hi = np.nanmin(points, (0, 1, 2)), np.nanmax(points, (0, 1, 2))
    x_range = scene["xaxis"]["range"]
    assert x_range[0] < lo[0] and x_range[1] > hi[0] and x_range[1] - x_range[0] < 1.2 * (hi[0] - lo[0])


def test_bad_shapes_are_user_errors(tmp_path):
    poses, joints2d = sequence()
    with pytest.raises(UserError, match=r"\(T, P, 17, 3\)"):
        write_html(tmp_path / "a.html", poses[0], "h36m_17")
    with pytest.raises(UserError, match="joints2d must be"):
        write_html(tmp_path / "a.html", poses, "h36m_17", joints2d=joints2d[:, :1])
    with pytest.raises(UserError, match="images must be"):
        write_html(tmp_path / "a.html", poses, "h36m_17", images=np.zeros((2, 8, 8, 3), np.uint8))
    assert not list(tmp_path.iterdir())


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium not found; .ci/run installs Debian's chromium package")
        pytest.skip("chromium not installed (apt-get install chromium)")
    return exe


def near(pixels: np.ndarray, hex_color: str, tol: int = 40) -> int:
    rgb = np.array([int(hex_color[i:i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(pixels.astype(int) - rgb).max(-1) < tol).sum())


def test_page_renders_in_headless_chromium_without_script_errors(tmp_path):
    exe = chromium()
    poses, joints2d = sequence()
    image = np.full((1000, 1000, 3), 200, np.uint8)
    path = write_html(tmp_path / "view.html", poses, "h36m_17", joints2d=joints2d, images=image)
    shot = tmp_path / "shot.png"
    run = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-unsafe-swiftshader",
                          "--hide-scrollbars", "--window-size=1200,700", "--virtual-time-budget=5000",
                          "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", path.as_uri()],
                         capture_output=True, text=True, timeout=120)
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert not [line for line in console if "Uncaught" in line or "Error" in line], console
    pixels = np.asarray(Image.open(shot).convert("RGB"))
    assert pixels.shape == (700, 1200, 3)
    # The 3D panel (right part, left of the legend) holds the red and blue limbs drawn by WebGL.
    panel = pixels[100:600, 560:1050]
    assert near(panel, "#d62728") > 100 and near(panel, "#1f77b4") > 100
    # The 2D panel shows the grey image under the 2D skeleton.
    assert near(pixels[100:600, 40:500], "#c8c8c8", tol=6) > 20000
