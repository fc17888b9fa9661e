"""Renderer: exact 2D labels (markers at the projected joints), z-buffer depth, determinism, batching."""

import pytest
import torch
from helpers import intrinsics, standing_pose

from lifting.geometry.cameras import project_joints
from lifting.geometry.skeletons import H36M_17
from lifting.synth.render import MARKER_COLOUR, mannequin_ellipsoids, render_mannequin

torch.set_num_threads(2)

# A person standing 4 m in front of the camera, facing it (camera frame: x right, y down, z forward, mm).
# The person's left is at +x in the image; arms stretched sideways at shoulder height.


def test_projection_is_pinhole():
    X = torch.tensor([[[100.0, -200.0, 2000.0]]])
    uv = project_joints(X, intrinsics()[None])
    assert torch.allclose(uv, torch.tensor([[[127.5 + 25.0, 131.0 - 50.0]]]))


def test_markers_sit_on_rounded_projections():
    g = torch.Generator().manual_seed(3)
    joints = standing_pose()[None] + torch.randn(2, 17, 3, generator=g) * 40
    r = render_mannequin(joints, intrinsics(), (256, 256), torch.Generator().manual_seed(1),
                         markers=True, marker_radius=0)
    uv = torch.round(r.joints2d_px).long()
    assert torch.allclose(r.joints2d_px, project_joints(joints, intrinsics()[None]))
    for b in range(2):
        colours = r.image[b, :, uv[b, :, 1], uv[b, :, 0]].T
        assert torch.allclose(colours, torch.tensor(MARKER_COLOUR).expand(17, 3))
    magenta = (r.image[:, 0] == 1) & (r.image[:, 1] == 0) & (r.image[:, 2] == 1)
    assert magenta.sum() <= 2 * 17                     # one pixel per joint, nowhere else (coincident ones merge)


def test_depth_is_nearest_surface_and_self_occlusion():
    K = intrinsics()[None]
    front = standing_pose().clone()
    e = H36M_17.index("right_elbow")
    front[e, 2] -= 300                                   # elbow 30 cm in front of the body plane
    behind = standing_pose().clone()
    behind[e] = torch.tensor([0.0, -360.0, 4350.0])       # elbow hidden behind the chest
    r = render_mannequin(torch.stack([front, behind]), K, (256, 256), occluder_prob=0.0)
    u, v = torch.round(project_joints(front[None], K)[0, e]).long()
    assert abs(r.depth[0, v, u].item() - (front[e, 2].item() - 41)) < 1.5      # elbow ball, radius 41 mm
    u2, v2 = torch.round(project_joints(behind[None], K)[0, e]).long()
    assert r.depth[1, v2, u2].item() < behind[e, 2].item() - 300            # chest surface in front of it
    k = H36M_17.index("left_knee")
    u3, v3 = torch.round(project_joints(front[None], K)[0, k]).long()
    assert abs(r.depth[0, v3, u3].item() - (front[k, 2].item() - 54)) < 1.5    # knee ball, radius 54 mm
    assert torch.isinf(r.depth[0, 0, 0]) and not r.mask[0, 0, 0]


def test_silhouette_of_the_head_matches_its_size():
    """The head ellipsoid (semi-axes 118 up, 84 sideways) seen frontally: a row 20 px above its centre is
    2 * 84 * sqrt(1 - (dy / 118)^2) * f / z px wide."""
    K = intrinsics(f=1000.0)[None]
    pose = standing_pose(3000.0) + torch.tensor([0.0, 600.0, 0.0])
    r = render_mannequin(pose[None], K, (256, 256), occluder_prob=0.0)
    centres, _, _ = mannequin_ellipsoids(pose[None])
    head = centres[0, 9 + 8 + 2]                                   # after 9 limbs, 8 balls, chest, pelvis
    row = int(torch.round(project_joints(head[None, None], K)[0, 0, 1])) - 20
    z = head[2].item()
    dy = (row - 131.0) * z / 1000 - head[1].item()
    expected = 2 * 84 * (1 - (dy / 118) ** 2) ** 0.5 * 1000 / z
    assert abs(r.mask[0, row].sum().item() - expected) <= 2.0


def test_deterministic_and_batch_independent_geometry():
    g = torch.Generator().manual_seed(0)
    joints = standing_pose()[None] + torch.randn(3, 17, 3, generator=g) * 60
    joints[2] += torch.tensor([900.0, 0, 2000])                  # small and off-centre: different window
    a = render_mannequin(joints, intrinsics(), (200, 180), torch.Generator().manual_seed(5))
    b = render_mannequin(joints, intrinsics(), (200, 180), torch.Generator().manual_seed(5))
    c = render_mannequin(joints, intrinsics(), (200, 180), torch.Generator().manual_seed(6))
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)
    alone = render_mannequin(joints[2:], intrinsics(), (200, 180), occluder_prob=0.0)
    batch = render_mannequin(joints, intrinsics(), (200, 180), occluder_prob=0.0)
    assert torch.equal(alone.mask[0], batch.mask[2]) and alone.mask[0].sum() > 50
    hit = alone.mask[0]
    assert torch.allclose(alone.depth[0][hit], batch.depth[2][hit], atol=1.0)   # float32 ray casting: ~1 mm
    assert a.image.shape == (3, 3, 200, 180) and a.image.min() >= 0 and a.image.max() <= 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuda not available")
def test_cuda_matches_cpu_geometry():
    joints = standing_pose()[None]
    cpu = render_mannequin(joints, intrinsics(), (128, 128), occluder_prob=0.0)
    gpu = render_mannequin(joints.cuda(), intrinsics().cuda(), (128, 128), occluder_prob=0.0)
    assert (cpu.mask != gpu.mask.cpu()).float().mean() < 1e-3


def test_ellipsoid_bounds_are_exact_outline_boxes():
    """The tiles are culled with the projected boxes: the rendered silhouette must fill the union box to <1 px."""
    from lifting.synth.render import ellipsoid_bounds

    g = torch.Generator().manual_seed(2)
    joints = standing_pose(3500.0)[None] + torch.randn(4, 17, 3, generator=g) * 80
    joints[:, :, 0] += torch.tensor([-500.0, 0.0, 400.0, 700.0])[:, None]        # off-axis: perspective matters
    K = intrinsics(f=300.0)[None].expand(4, 3, 3)
    r = render_mannequin(joints, K, (256, 256), occluder_prob=0.0)
    box = ellipsoid_bounds(*mannequin_ellipsoids(joints), K)
    lo, hi = box[..., :2].amin(1), box[..., 2:].amax(1)
    for b in range(4):
        ys, xs = torch.nonzero(r.mask[b], as_tuple=True)
        first = torch.stack([xs.min(), ys.min()]).float()
        last = torch.stack([xs.max(), ys.max()]).float()
        assert (first >= lo[b]).all() and (first - lo[b] < 1).all()
        assert (last <= hi[b]).all() and (hi[b] - last < 1).all()


def test_nose_marks_the_facing_direction_also_for_mirrored_poses():
    nose = 9 + 8 + 3                                      # after 9 limbs, 8 balls, chest, pelvis, head
    facing = standing_pose()[None]
    turned = facing.clone()
    turned[..., [0, 2]] = -(facing[..., [0, 2]] - facing[:, :1, [0, 2]]) + facing[:, :1, [0, 2]]   # 180 deg about y
    mirrored = facing[:, list(H36M_17.flip_perm)] * torch.tensor([-1.0, 1.0, 1.0])                 # flip + relabel
    for pose, towards_camera in ((facing, True), (turned, False), (mirrored, True)):
        centres, _, _ = mannequin_ellipsoids(pose)
        assert (centres[0, nose, 2] < centres[0, nose - 1, 2]) == towards_camera


def test_people_share_one_z_buffer():
    # A at 4 m; B 6 m away and 0.5 m to the side, partly behind A: together, each pixel shows the nearer surface
    a, b = standing_pose(4000.0), standing_pose(6000.0) + torch.tensor([500.0, 0.0, 0.0])
    both = render_mannequin(torch.stack([a, b])[None], intrinsics(), (256, 256), occluder_prob=0.0)
    alone = render_mannequin(torch.stack([a, b]), intrinsics(), (256, 256), occluder_prob=0.0)
    assert torch.allclose(both.depth[0], torch.minimum(alone.depth[0], alone.depth[1]), rtol=0, atol=0.5)  # mm, float32
    nearest = torch.where(alone.depth[0] <= alone.depth[1], 0, 1)
    assert torch.equal(both.person[0], torch.where(torch.isfinite(both.depth[0]), nearest, -1))
    assert (both.person[0] == 1).sum() < alone.mask[1].sum()          # B is partly hidden
    assert (both.person[0] == 0).sum() == alone.mask[0].sum()         # A is not
    assert both.joints2d_px.shape == (1, 2, 17, 2)


def test_absent_people_are_not_drawn():
    a, b = standing_pose(4000.0), standing_pose(3000.0)           # b would cover a
    two = render_mannequin(torch.stack([a, b])[None], intrinsics(), (128, 128), torch.Generator().manual_seed(2),
                           present=torch.tensor([[True, False]]), occluder_prob=0.0)
    one = render_mannequin(a[None], intrinsics(), (128, 128), occluder_prob=0.0)
    assert torch.allclose(two.depth[0], one.depth[0], rtol=0, atol=0.5) and torch.equal(two.mask[0], one.mask[0])
    assert set(two.person[0].unique().tolist()) == {-1, 0}
    nobody = render_mannequin(torch.stack([a, b])[None], intrinsics(), (128, 128),
                              present=torch.tensor([[False, False]]))
    assert torch.isinf(nobody.depth).all() and (nobody.person == -1).all()


def test_one_person_as_a_scene_is_the_single_person_rendering():
    joints = standing_pose()[None]
    single = render_mannequin(joints, intrinsics(), (96, 96), torch.Generator().manual_seed(4))
    scene = render_mannequin(joints[:, None], intrinsics(), (96, 96), torch.Generator().manual_seed(4))
    assert torch.equal(single.image, scene.image[:]) and torch.equal(single.joints2d_px, scene.joints2d_px[:, 0])
