"""Perspective-correct crops: homography vs. marker pixels, flips, truncation boxes, jitter, the crop loader."""

import pytest
import torch
from helpers import intrinsics, pose_set, standing_pose

from lifting.augment.crops import (
    CropAugmentation,
    CropDataset,
    apply_color_matrices,
    color_jitter_matrices,
    crop_camera,
    crop_homography,
    make_crops,
    random_partial_box,
    square_box,
    to_crop_frame,
    to_original_frame,
    turn_towards,
    warp_to_crop,
)
from lifting.datasets.images import ImageDataset
from lifting.geometry.cameras import project_joints
from lifting.geometry.skeletons import H36M_17
from lifting.synth.render import render_mannequin
from lifting.synth.writer import write_rendered_dataset

torch.set_num_threads(2)
PERM = list(H36M_17.flip_perm)


def scene(n=3, seed=0):
    """n posed people, off-centre in a 256 px image, with markers (5x5 px) at their projected joints."""
    g = torch.Generator().manual_seed(seed)
    joints = standing_pose(4500.0)[None] + torch.randn(n, 17, 3, generator=g) * 50
    joints[:, :, 0] += torch.tensor([-900.0, 300.0, 1000.0])[:n, None]
    K = intrinsics(f=320.0, cx=130.0, cy=120.0).expand(n, 3, 3)
    r = render_mannequin(joints, K, (256, 256), torch.Generator().manual_seed(1), occluder_prob=0.0,
                         markers=True, marker_radius=2)
    lo, hi = r.joints2d_px.amin(1), r.joints2d_px.amax(1)
    boxes = torch.cat([lo - 10, hi - lo + 20], -1)
    return r, joints, K, boxes


def magenta(image):
    return (image[0] > 0.75) & (image[1] < 0.3) & (image[2] > 0.75)


def test_turn_towards_centres_the_point_without_roll():
    K = intrinsics(f=300.0)[None].double()
    p = torch.tensor([[220.0, 40.0]], dtype=torch.float64)
    R = turn_towards(K, p)
    ray = torch.linalg.inv(K[0]) @ torch.tensor([220.0, 40.0, 1.0], dtype=torch.float64)
    assert torch.allclose(R[0] @ ray / (R[0] @ ray)[2], torch.tensor([0.0, 0, 1], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(R[0] @ R[0].T, torch.eye(3, dtype=torch.float64), atol=1e-12)
    assert abs(R[0, 0, 1].item()) < 1e-12          # new x axis has no component along the old y: no roll


@pytest.mark.parametrize("flip", [False, True])
def test_homography_puts_markers_at_the_crop_projections(flip):
    r, joints, K, boxes = scene()
    n = len(joints)
    aug = CropAugmentation(torch.tensor([0.8, 1.0, 1.2]), torch.tensor([15.0, -10.0, 0.0]),
                           torch.tensor([[0.05, -0.03], [0.0, 0.08], [-0.07, 0.0]]), torch.full((n,), flip))
    S = 160
    out = make_crops(r.image, K, boxes, joints, S, augment=False, aug=aug)
    # Geometry: K_crop R X equals the homography applied to the original projection (joint order permuted if flip).
    H = crop_homography(K, out["K_crop"].double(), out["R_crop_from_orig"].double())
    orig = torch.cat([r.joints2d_px.double(), torch.ones(n, 17, 1, dtype=torch.float64)], -1) @ H.transpose(1, 2)
    mapped = orig[..., :2] / orig[..., 2:]
    if flip:
        mapped = mapped[:, PERM]
    assert torch.allclose(out["joints2d_px"].double(), mapped, atol=1e-3)
    assert torch.allclose(out["joints2d_px"], project_joints(out["joints3d_cam"], out["K_crop"]), atol=1e-3)
    # Pixels: the crop shows the marker colour at the mapped marker centres, and the centroid of the warped
    # marker indicator (exactly the 5x5 squares in the rendering) is there to a fraction of a pixel.
    marker = torch.cat([torch.round(r.joints2d_px).double(), torch.ones(n, 17, 1, dtype=torch.float64)], -1)
    marker = marker @ H.transpose(1, 2)
    marker = marker[..., :2] / marker[..., 2:]
    if flip:
        marker = marker[:, PERM]
    yy, xx = torch.meshgrid(torch.arange(256.0), torch.arange(256.0), indexing="ij")
    centre = torch.round(r.joints2d_px)
    squares = ((xx - centre[..., 0, None, None]).abs() <= 2) & ((yy - centre[..., 1, None, None]).abs() <= 2)
    assert magenta(r.image.transpose(0, 1))[:, None].expand_as(squares)[squares].all()    # markers were drawn
    warped = warp_to_crop(squares.float(), K, out["K_crop"], out["R_crop_from_orig"], S).double()
    if flip:
        warped = warped[:, PERM]
    yy, xx = torch.meshgrid(torch.arange(S, dtype=torch.float64), torch.arange(S, dtype=torch.float64),
                            indexing="ij")
    checked = 0
    for b in range(n):
        shown = magenta(out["image"][b])
        for j in range(17):
            u, v = marker[b, j].tolist()
            if not (8 <= u <= S - 9 and 8 <= v <= S - 9):
                continue
            assert shown[round(v), round(u)], (b, j)
            w = warped[b, j]
            centroid = torch.stack([(w * xx).sum(), (w * yy).sum()]) / w.sum()
            assert (centroid - torch.tensor([u, v], dtype=torch.float64)).norm() < 0.2, (b, j, centroid, u, v)
            checked += 1
    assert checked > 30


def test_box_side_maps_to_crop_size_and_principal_point_is_centre():
    K = intrinsics(f=400.0)[None].double()
    box = torch.tensor([[100.0, 90.0, 40.0, 80.0]], dtype=torch.float64)
    K_crop, R = crop_camera(K, box, 64)
    H = crop_homography(K, K_crop, R)
    pts = torch.tensor([[120.0, 90.0, 1.0], [120.0, 170.0, 1.0], [120.0, 130.0, 1.0]], dtype=torch.float64)
    q = pts @ H[0].T
    q = q[:, :2] / q[:, 2:]
    assert torch.allclose(q[2], torch.tensor([31.5, 31.5], dtype=torch.float64), atol=1e-9)
    assert abs((q[1] - q[0]).norm().item() - 64) < 1e-9
    K_crop2, _ = crop_camera(K, box, 64, CropAugmentation(torch.tensor([1.25]), torch.zeros(1), torch.zeros(1, 2),
                                                          torch.zeros(1, dtype=torch.bool)))
    assert torch.allclose(K_crop2[0, 0, 0], 1.25 * K_crop[0, 0, 0])


def test_flip_round_trip_and_mirrored_projection():
    r, joints, K, boxes = scene(n=2)
    base = CropAugmentation(torch.tensor([1.1, 0.9]), torch.tensor([12.0, -5.0]), torch.tensor([[0.02, 0.0],
                            [0.0, -0.04]]), torch.zeros(2, dtype=torch.bool))
    flipped = CropAugmentation(base.scale, base.roll_deg, base.shift, torch.ones(2, dtype=torch.bool))
    S = 96
    a = make_crops(r.image, K, boxes, joints, S, augment=False, aug=base)
    b = make_crops(r.image, K, boxes, joints, S, augment=False, aug=flipped)
    assert torch.allclose(torch.linalg.det(b["R_crop_from_orig"]), -torch.ones(2), atol=1e-5)
    mirrored = a["joints2d_px"][:, PERM].clone()
    mirrored[..., 0] = (S - 1) - mirrored[..., 0]
    assert torch.allclose(b["joints2d_px"], mirrored, atol=1e-3)                 # flipped 3D projects to flipped 2D
    assert torch.allclose(b["image"], torch.flip(a["image"], dims=[-1]), atol=1e-4)
    assert torch.equal(b["in_crop"], a["in_crop"][:, PERM])
    twice = to_crop_frame(b["joints3d_cam"].double(), torch.diag(torch.tensor([-1.0, 1, 1])).double().expand(2, 3, 3),
                          torch.ones(2, dtype=torch.bool))
    assert torch.allclose(twice.float(), a["joints3d_cam"], atol=1e-3)           # flip twice = identity
    back = to_original_frame(b["joints3d_cam"].double(), b["R_crop_from_orig"].double(), b["flipped"])
    assert torch.allclose(back.float(), joints, atol=1e-2)


def test_random_partial_box_properties():
    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[10.0, 20.0, 50.0, 100.0]]).repeat(2000, 1)
    sub = random_partial_box(boxes, g)
    sq = square_box(boxes)[0]
    assert torch.allclose(sq, torch.tensor([-15.0, 20.0, 100.0, 100.0]))
    x1 = (sub[:, 0] - sq[0]) / 100
    side = sub[:, 2] / 100
    bottom = (sub[:, 1] + sub[:, 3] - sq[1]) / 100
    assert torch.equal(sub[:, 2], sub[:, 3])
    assert ((side > 0.5) & (side < 1)).all() and ((x1 >= 0) & (x1 <= 0.5)).all()
    assert ((x1 + side >= 0.5) & (x1 + side <= 1)).all()                          # x2 in [0.5, 1]
    assert ((bottom >= 0.5) & (bottom <= 1) & (side < bottom)).all()             # top stays inside the box
    assert x1.max() > 0.4 and side.min() < 0.55 and bottom.min() < 0.6           # the whole range is drawn
    again = random_partial_box(boxes, torch.Generator().manual_seed(0))
    assert torch.equal(sub, again)


def test_color_jitter_matrices():
    one = lambda v: torch.tensor([float(v)])
    order = torch.tensor([[0, 1, 2, 3]])
    img = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0)) * 0.6 + 0.2
    ident = color_jitter_matrices(one(0), one(1), one(1), one(0), order)
    assert torch.allclose(apply_color_matrices(img, ident), img, atol=1e-6)
    bright = apply_color_matrices(torch.full((1, 3, 1, 1), 0.5), color_jitter_matrices(one(0.1), one(1), one(1),
                                                                                         one(0), order))
    assert torch.allclose(bright, torch.full((1, 3, 1, 1), 0.6))
    contrast = apply_color_matrices(torch.full((1, 3, 1, 1), 0.6), color_jitter_matrices(one(0), one(2), one(1),
                                                                                           one(0), order))
    assert torch.allclose(contrast, torch.full((1, 3, 1, 1), 0.7))
    grey = apply_color_matrices(img, color_jitter_matrices(one(0), one(1), one(0), one(0), order))
    luminance = (torch.tensor([0.299, 0.587, 0.114])[:, None, None] * img[0]).sum(0)
    assert torch.allclose(grey[0], luminance.expand(3, 4, 4), atol=1e-6)
    hue = apply_color_matrices(img, color_jitter_matrices(one(0), one(1), one(1), one(60), order))
    assert torch.allclose((torch.tensor([0.299, 0.587, 0.114])[:, None, None] * hue[0]).sum(0), luminance, atol=1e-5)
    assert not torch.allclose(hue, img, atol=1e-2)
    params = [torch.tensor([0.1, -0.05]), torch.tensor([1.3, 0.7]), torch.tensor([0.6, 1.4]),
              torch.tensor([30.0, -50.0])]
    orders = torch.tensor([[3, 1, 0, 2], [0, 2, 1, 3]])
    batched = color_jitter_matrices(*params, orders)
    for i in range(2):
        single = color_jitter_matrices(*[p[i:i + 1] for p in params], orders[i:i + 1])
        assert torch.allclose(batched[i], single[0])
    swapped = color_jitter_matrices(one(0.1), one(2), one(1), one(0), torch.tensor([[1, 0, 2, 3]]))
    assert not torch.allclose(swapped, color_jitter_matrices(one(0.1), one(2), one(1), one(0), order))


def test_augmented_crops_are_reproducible_and_valid():
    r, joints, K, boxes = scene()
    a = make_crops(r.image, K, boxes, joints, 64, True, torch.Generator().manual_seed(4), truncation_prob=0.5)
    b = make_crops(r.image, K, boxes, joints, 64, True, torch.Generator().manual_seed(4), truncation_prob=0.5)
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert a["image"].shape == (3, 3, 64, 64) and 0 <= a["image"].min() and a["image"].max() <= 1
    eye = torch.eye(3).expand(3, 3, 3)
    R = a["R_crop_from_orig"]
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(R), torch.where(a["flipped"], -1.0, 1.0), atol=1e-5)
    inside = ((a["joints2d_px"] >= -0.5) & (a["joints2d_px"] <= 63.5)).all(-1)
    assert torch.equal(a["in_crop"], inside)


def test_truncation_applies_without_other_augmentation():
    r, joints, K, boxes = scene()
    g = lambda: torch.Generator().manual_seed(5)
    plain = make_crops(r.image, K, boxes, joints, 64, False, g())
    cut = make_crops(r.image, K, boxes, joints, 64, False, g(), truncation_prob=1.0)
    assert torch.allclose(plain["box"], boxes.float())
    sq = square_box(boxes.double()).float()
    side = cut["box"][:, 2]
    assert torch.equal(side, cut["box"][:, 3])                          # a square sub-box of the square box
    assert ((side > 0.5 * sq[:, 2]) & (side < sq[:, 2])).all()
    assert ((cut["box"][:, :2] >= sq[:, :2] - 1e-3).all() and
            (cut["box"][:, :2] + side[:, None] <= sq[:, :2] + sq[:, 2:3] + 1e-3).all())
    assert not plain["flipped"].any() and not cut["flipped"].any()      # no other augmentation
    assert not cut["in_crop"].all() and plain["in_crop"].all()


@pytest.fixture(scope="module")
def crop_dataset_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("crops")
    write_rendered_dataset(root, pose_set(frames=2, cams=(1,)), image_size=96, seed=0)
    return root


def test_crop_dataset_reads_the_written_fixture(crop_dataset_root):
    images = ImageDataset(crop_dataset_root, [1, 5])
    plain = CropDataset(images, 48, augment=False)
    item = plain[0]
    rec = images[0]
    assert item["image"].shape == (3, 48, 48) and item["subject"] == rec.subject and item["frame"] == rec.frame
    K_crop, R = crop_camera(torch.tensor(rec.K)[None], torch.tensor(rec.bbox)[None], 48)
    expected = torch.tensor(rec.joints3d_cam)[None] @ R.transpose(1, 2)
    assert torch.allclose(item["joints3d_cam"], expected[0].float(), atol=1e-2)
    assert torch.allclose(item["joints2d_px"], project_joints(item["joints3d_cam"][None], item["K_crop"][None])[0],
                          atol=1e-3)
    assert item["in_crop"].float().mean() > 0.8 and not item["flipped"]
    aug = CropDataset(images, 48, augment=True, truncation_prob=0.5, seed=3)
    x, y = aug[1], aug[1]
    assert torch.equal(x["image"], y["image"])
    aug.set_epoch(1)
    assert not torch.equal(aug[1]["image"], x["image"])
    batch = torch.utils.data.default_collate([aug[i] for i in range(len(aug))])
    assert batch["image"].shape == (len(images), 3, 48, 48) and len(batch["action"]) == len(images)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuda not available")
def test_make_crops_on_cuda_matches_cpu():
    """Same geometry on both devices; the warp agrees when appearance augmentation (device noise) is off."""
    r, joints, K, boxes = scene()
    aug = CropAugmentation.sample(3, torch.Generator().manual_seed(2))
    args = lambda dev: (r.image.to(dev), K.to(dev), boxes.to(dev), joints.to(dev), 64)
    for augment in (False, True):
        cpu = make_crops(*args("cpu"), augment, torch.Generator().manual_seed(2), aug=aug)
        gpu = make_crops(*args("cuda"), augment, torch.Generator().manual_seed(2), aug=aug)
        for key in ("K_crop", "joints2d_px", "joints3d_cam", "in_crop"):
            assert torch.allclose(cpu[key].float(), gpu[key].cpu().float(), atol=1e-3), key
        assert gpu["image"].device.type == "cuda" and gpu["image"].shape == (3, 3, 64, 64)
    plain = make_crops(*args("cpu"), False, aug=aug)
    plain_gpu = make_crops(*args("cuda"), False, aug=aug)
    assert (plain["image"] - plain_gpu["image"].cpu()).abs().max() < 1e-3


@pytest.mark.parametrize("flip", [False, True])
def test_rendering_into_the_crop_camera_matches_the_warped_full_rendering(flip):
    """The on-the-fly path (render with K_crop and crop-frame joints) and render-then-warp give one silhouette."""
    r, joints, K, boxes = scene(n=2)
    full = render_mannequin(joints, K, (256, 256), occluder_prob=0.0, background=False)
    aug = CropAugmentation(torch.tensor([0.9, 1.1]), torch.tensor([-12.0, 8.0]), torch.tensor([[0.03, 0.0],
                           [0.0, 0.05]]), torch.full((2,), flip))
    K_crop, R = crop_camera(K, boxes, 96, aug)
    warped = warp_to_crop(full.mask[:, None].float(), K, K_crop, R, 96)[:, 0] > 0.5
    direct = render_mannequin(to_crop_frame(joints.double(), R, aug.flip).float(), K_crop.float(), (96, 96),
                              occluder_prob=0.0)
    inter = (warped & direct.mask).sum((1, 2)).float()
    union = (warped | direct.mask).sum((1, 2)).float()
    assert (inter / union > 0.93).all(), inter / union


def test_crowd_pool_world_poses_agree_across_cameras():
    """Every camera's view of one frame goes back to the same world pose, feet on the floor."""
    from helpers import pose_set

    from lifting.datasets.crop_sources import Crowd
    from lifting.geometry.cameras import h36m_cameras

    poses = pose_set(frames=2, cams=(1, 3))
    crowd = Crowd.from_poses(poses, h36m_cameras(), 0.5)
    for s in (1, 5):
        for f in (0, 1):
            rows = (poses.subject == s) & (poses.frame == f) & (poses.action == "Walking")
            world = crowd.joints_world[torch.as_tensor(rows)]
            assert len(world) == 2 and torch.allclose(world[0], world[1], atol=1e-3)
    assert crowd.joints_world[..., 2].amin(1).abs().max() < 150          # ankles near z = 0


def test_crowd_people_stand_beside_the_person_on_the_same_floor():
    from lifting.synth.scenes import place_beside, scene_camera

    g = torch.Generator().manual_seed(0)
    B = 64
    R = torch.tensor(scene_camera(1500.0, 10.0)[0]).expand(B, 3, 3)        # camera looks along world +y
    target = torch.randn(B, 17, 3, generator=g, dtype=torch.float64) * 200 + torch.tensor([300.0, 4000.0, 900.0])
    others = torch.randn(B, 2, 17, 3, generator=g, dtype=torch.float64) * 200 + torch.tensor([-5000.0, 0, 900.0])
    placed = place_beside(target, others, R, g)
    assert torch.equal(placed[..., 2], others[..., 2])                               # heights above the floor kept
    d_in, d_out = torch.cdist(others[..., :2], others[..., :2]), torch.cdist(placed[..., :2], placed[..., :2])
    assert torch.allclose(d_in, d_out, atol=1e-6)                                    # each person moved rigidly
    offset = placed[:, :, 0, :2] - target[:, None, 0, :2]                            # root to root on the floor
    assert (offset.norm(dim=-1) >= 600 - 1e-6).all()
    lateral, depth = offset[..., 0], offset[..., 1]                                  # world x = camera right
    assert (lateral.abs() >= 500 - 1e-6).all() and (lateral.abs() <= 1300 + 1e-6).all()
    assert (depth >= -600 - 1e-6).all() and (depth <= 1500 + 1e-6).all()
    assert (lateral[:, 0] * lateral[:, 1] < 0).all()                                 # on opposite sides


def test_crowd_crops_show_other_people_and_keep_the_labels(monkeypatch):
    """crowd_prob 1: other people's pixels in every crop (person map), labels as without them; crowd_prob 0: the
    crops are bit-identical to crops rendered without a crowd."""
    from helpers import pose_set

    import lifting.synth.render as render
    from lifting.augment.crops import seeded_generator
    from lifting.datasets.crop_sources import Crowd, intrinsics, render_crops
    from lifting.geometry.cameras import h36m_cameras

    poses = pose_set(frames=3, cams=(1, 3))
    joints, K = torch.as_tensor(poses.joints3d_cam), intrinsics(poses)
    rows = torch.arange(len(poses))
    maps = []
    original = render.render_mannequin
    monkeypatch.setattr(render, "render_mannequin", lambda *a, **kw: maps.append(original(*a, **kw)) or maps[-1])

    def crops(prob):
        crowd = Crowd.from_poses(poses, h36m_cameras(), prob)
        others = crowd.draw(rows, seeded_generator(5, 1))
        return render_crops(joints, K, 64, seeded_generator(5), torch.device("cpu"), True, 0.3, others=others)

    alone = render_crops(joints, K, 64, seeded_generator(5), torch.device("cpu"), True, 0.3)
    none = crops(0.0)
    assert all(torch.equal(none[k], alone[k]) for k in alone)
    crowded = crops(1.0)
    for k in alone:
        if k != "image":
            assert torch.equal(crowded[k], alone[k]), k
    person = maps[-1].person.flatten(1)
    assert maps[-1].joints2d_px.shape[1] == 3 and (maps[0].person <= 0).all()
    assert ((person >= 1).sum(1) >= 20).float().mean() >= 0.66       # other people in most crops (some fall outside)
    assert ((person == 0).sum(1) >= 50).all()                         # and the person still seen in every one


@pytest.mark.skipif(not torch.cuda.is_available(), reason="cuda not available")
def test_crowd_crops_render_on_cuda_with_the_cpu_labels():
    from helpers import pose_set

    from lifting.augment.crops import seeded_generator
    from lifting.datasets.crop_sources import Crowd, intrinsics, render_crops
    from lifting.geometry.cameras import h36m_cameras

    poses = pose_set(frames=2, cams=(1, 3))
    joints, K = torch.as_tensor(poses.joints3d_cam), intrinsics(poses)
    crowd = Crowd.from_poses(poses, h36m_cameras(), 1.0)
    others = crowd.draw(torch.arange(len(poses)), seeded_generator(1, 1))
    out = {dev: render_crops(joints, K, 64, seeded_generator(1), torch.device(dev), False, others=others)
           for dev in ("cpu", "cuda")}
    for k in ("joints2d_px", "joints3d_cam", "K_crop", "in_crop"):
        assert torch.allclose(out["cpu"][k].float(), out["cuda"][k].cpu().float(), atol=1e-3), k
