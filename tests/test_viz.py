import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from lifting.errors import UserError
from lifting.geometry.skeletons import H36M_17, LSP_14
from lifting.viz import (
    draw_pose_2d,
    draw_pose_3d,
    fitted_limits,
    limb_colors,
    overlay_poses,
    plot_coords,
    save_figure,
    upright,
)


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
    # 3D: limits fitted to the pose, the box proportional to them (one mm one length on every axis).
    spans = np.array([np.diff(lim)[0] for lim in (ax3.get_xlim(), ax3.get_ylim(), ax3.get_zlim())])
    extent = np.ptp(upright(pose3d), axis=0)
    assert (spans > extent).all() and (spans < extent + 0.11 * extent.max()).all()
    box = ax3.get_box_aspect()
    np.testing.assert_allclose(box / box.max(), spans / spans.max())
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


def test_fitted_limits_hand_computed():
    points = np.array([[0.0, 0.0, 0.0], [1000.0, 100.0, 1800.0]])
    ranges, aspect = fitted_limits(points, min_share=0.25, pad=0.05)
    # Spans 1000, 100 -> 450 (a quarter of 1800), 1800 around centres 500, 50, 900; each padded by 90 mm a side.
    np.testing.assert_allclose(ranges, [[-90, 1090], [-265, 365], [-90, 1890]])
    np.testing.assert_allclose(aspect, np.array([1180, 630, 1980]) / 1980)
    with pytest.raises(UserError, match="every joint is missing"):
        fitted_limits(np.full((17, 3), np.nan))


def test_plot_coords_stand_people_up_in_either_frame():
    head_cam = np.array([0.0, -800.0, 5000.0])  # camera frame: up is -y
    head_world = np.array([100.0, 200.0, 1700.0])  # world frame: up is +z
    np.testing.assert_allclose(plot_coords(head_cam, "camera"), [0.0, 5000.0, 800.0])
    np.testing.assert_allclose(plot_coords(head_world, "world"), head_world)
    with pytest.raises(UserError, match="3D frame 'image'"):
        plot_coords(head_cam, "image")


def test_overlay_draws_limbs_in_their_colours_and_skips_missing_joints():
    pose = np.full((17, 2), np.nan)
    a, b = H36M_17.limbs[0]
    pose[a], pose[b] = [10.0, 20.0], [50.0, 20.0]
    out = overlay_poses(np.zeros((48, 64, 3), np.uint8), pose[None], "h36m_17", linewidth=1)
    expected = {"tab:red": (214, 39, 40), "tab:blue": (31, 119, 180), "0.3": (76, 76, 76)}[limb_colors("h36m_17")[0]]
    assert tuple(out[20, 30]) == expected
    assert (out[:15] == 0).all() and (out[25:] == 0).all()  # nothing else drawn


@pytest.mark.parametrize("suffix", [".gif", ".mp4"])
def test_pose_animation_of_two_tracks_with_a_gap(tmp_path, suffix):
    from lifting.datasets.videos import read_frames
    from lifting.viz import save_pose_animation

    rng = np.random.default_rng(0)
    poses3d = rng.normal(0, 300, (3, 2, 17, 3)) + [0, 0, 5000]
    poses3d[1, 1] = np.nan  # the second person is missing in frame 1
    joints2d = poses3d[..., :2] / poses3d[..., 2:] * 1000 + 500
    out = save_pose_animation(tmp_path / f"anim{suffix}", joints2d, poses3d, "h36m_17", fps=5)
    frames = np.concatenate(list(read_frames(out)))
    assert frames.shape == (3, 350, 700, 3)
    assert (frames.reshape(3, -1).std(1) > 5).all()  # drawn, not blank


def test_prediction_figure_fills_its_panels():
    from lifting.viz import prediction_grid

    rng = np.random.default_rng(0)
    gt = rng.normal(0, 100, (2, 17, 3)) * [1, 8, 1]  # a tall, thin person: 1.6 m up, 0.4 m across
    fig = prediction_grid(rng.uniform(0, 1000, (2, 17, 2)), gt + 10, gt, "h36m_17")
    ax = fig.axes[1]
    height = np.ptp(upright(gt[0])[:, 2])
    assert np.diff(ax.get_zlim())[0] < 1.15 * height  # the vertical range fits the person, not a 2 m cube
    plt.close(fig)
