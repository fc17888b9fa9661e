import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lifting.errors import UserError
from lifting.geometry.skeletons import H36M_17, LSP_14
from lifting.viz import draw_pose_2d, draw_pose_3d, limb_colors, save_figure, upright


def test_limb_colours_separate_left_right_and_centre():
    colors = limb_colors("h36m_17")
    names = [(H36M_17.joint_names[a], H36M_17.joint_names[b]) for a, b in H36M_17.limbs]
    for (a, b), c in zip(names, colors):
        if "left" in a + b and "right" not in a + b:
            assert c == "tab:blue"
        elif "right" in a + b and "left" not in a + b:
            assert c == "tab:red"
        else:
            assert c == "0.3"
    assert len(set(colors)) == 3
    # LSP's hip-to-hip limb joins both sides: centre colour.
    lsp = limb_colors(LSP_14)
    assert lsp[LSP_14.limbs.index((LSP_14.index("right_hip"), LSP_14.index("left_hip")))] == "0.3"


def test_upright_maps_camera_frame_to_plot_axes():
    # Camera y points down: a head above the feet has smaller y, so larger plot z.
    head, foot = np.array([10.0, -800.0, 5000.0]), np.array([10.0, 900.0, 5000.0])
    up = upright(np.stack([head, foot]))
    np.testing.assert_allclose(up, [[10.0, 5000.0, 800.0], [10.0, 5000.0, -900.0]])


def test_draw_2d_and_3d_put_limbs_on_axes(tmp_path):
    rng = np.random.default_rng(0)
    pose3d = rng.normal(0, 300, (17, 3))
    pose2d = rng.uniform(0, 1000, (17, 2))
    fig = plt.figure()
    ax2 = fig.add_subplot(1, 2, 1)
    ax3 = fig.add_subplot(1, 2, 2, projection="3d")
    draw_pose_2d(ax2, pose2d, "h36m_17")
    draw_pose_3d(ax3, pose3d, "h36m_17")
    # One line per limb plus one marker line.
    assert len(ax2.lines) == len(H36M_17.limbs) + 1
    assert len(ax3.lines) == len(H36M_17.limbs) + 1
    assert ax2.yaxis_inverted()
    # The first limb's line carries exactly the limb's endpoints (2D: pixels as given).
    a, b = H36M_17.limbs[0]
    np.testing.assert_allclose(ax2.lines[0].get_xdata(), pose2d[[a, b], 0])
    # 3D: equal cube around the root.
    xl, yl, zl = ax3.get_xlim(), ax3.get_ylim(), ax3.get_zlim()
    assert np.isclose(xl[1] - xl[0], yl[1] - yl[0]) and np.isclose(yl[1] - yl[0], zl[1] - zl[0])
    paths = save_figure(fig, tmp_path / "poses")
    plt.close(fig)
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 0 for p in paths)


def test_invisible_joints_drop_their_limbs():
    pose2d = np.arange(28, dtype=float).reshape(14, 2)
    visible = np.ones(14, bool)
    visible[LSP_14.index("head")] = False
    fig, ax = plt.subplots()
    draw_pose_2d(ax, pose2d, "lsp_14", visible=visible)
    plt.close(fig)
    assert len(ax.lines) == len(LSP_14.limbs) - 1 + 1


def test_wrong_shape_is_a_user_error():
    fig, ax = plt.subplots()
    with pytest.raises(UserError, match=r"\(17, 2\)"):
        draw_pose_2d(ax, np.zeros((14, 2)), "h36m_17")
    plt.close(fig)


def test_prediction_figure_written(tmp_path):
    from lifting.viz import save_prediction_figure

    rng = np.random.default_rng(0)
    pred, gt = rng.normal(0, 300, (10, 17, 3)), rng.normal(0, 300, (10, 17, 3))
    out = save_prediction_figure(tmp_path / "figure.png", rng.uniform(0, 1000, (10, 17, 2)), pred, gt, "h36m_17", num=3)
    assert out.read_bytes()[:4] == b"\x89PNG"
