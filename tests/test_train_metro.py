"""MeTRo training loop: LR schedule, results/checkpoints, exact resume, 2-process DDP (gloo, CPU)."""

import json
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp

from lifting.checkpoint import load_checkpoint
from lifting.config import load_config
from lifting.datasets.crop_sources import CropSource
from lifting.engine import RunOptions, fit
from lifting.engine.optim import lr_factor
from lifting.options.metro import SCHEMA
from lifting.tasks import metro
from lifting.tasks.crop_eval import epoch_batches

torch.set_num_threads(1)
S = 64


def _crop_batch(indices):
    """Deterministic fake crops: each index has its own image and a pose whose 2D follows from K."""
    imgs, poses = [], []
    for i in indices:
        g = torch.Generator().manual_seed(int(i))
        imgs.append(torch.rand(3, S, S, generator=g))
        rel = (torch.rand(17, 3, generator=g) - 0.5) * 600
        poses.append(rel - rel[:1] + torch.tensor([0.0, 0.0, 4000.0]))
    joints = torch.stack(poses)
    K = torch.tensor([[200.0, 0, (S - 1) / 2], [0, 200.0, (S - 1) / 2], [0, 0, 1]]).expand(len(indices), 3, 3)
    p = joints @ K.transpose(1, 2)
    j2d = p[..., :2] / p[..., 2:]
    return {"image": torch.stack(imgs), "K_crop": K.clone(), "joints3d_cam": joints, "joints2d_px": j2d,
            "R_crop_from_orig": torch.eye(3).expand(len(indices), 3, 3).clone(),
            "in_crop": ((j2d >= 0) & (j2d <= S - 1)).all(-1), "action": ["Walking"] * len(indices)}


def _fake_data(fail_at=None):
    def batches(index_batches, epoch, step):
        for k, indices in enumerate(index_batches):
            if fail_at is not None and step + k == fail_at:
                raise KeyboardInterrupt
            yield _crop_batch(indices)

    def test_batches(truncated):
        start = 1000 if truncated else 500
        return iter([_crop_batch(range(start, start + 4)), _crop_batch(range(start + 4, start + 6))])

    return CropSource(num_train=16, batches=batches, test_batches=test_batches, describe="fake")


def train(cfg, data, resume=False):
    """The estimator task trained by the engine on a given crop source -> (results, trained model)."""
    task = metro.MetroTask(cfg)
    original = metro.online_source
    metro.online_source = lambda options, dist: data
    try:
        return fit(task, RunOptions.from_config(cfg), cfg, resume), task.model
    finally:
        metro.online_source = original


def _cfg(out_dir, **kw):
    base = {"backbone": "resnet18", "crop_size": S, "batch_size": 4, "epochs": 2, "out_dir": str(out_dir),
            "threads": 1, "log_every": 1, "checkpoint_every": 3, "abs_start": 2, "weak_steps": 1, "lr": 1e-3}
    return load_config(SCHEMA, None, [], {**base, **kw})


def test_lr_factor_two_phases():
    f = lambda step: lr_factor(step, "two_phase", 27, phase2_fraction=2 / 27)
    assert f(0) == 1.0
    assert f(12) == pytest.approx((1 / 3) ** (12 / 25))
    assert f(25) == pytest.approx(1 / 30)
    assert f(26) == pytest.approx(0.3 ** 0.5 / 30)


def test_epoch_batches_split_ranks_disjoint_and_seeded():
    a = epoch_batches(20, 3, epoch=1, seed=5, rank=0, world=2)
    b = epoch_batches(20, 3, epoch=1, seed=5, rank=1, world=2)
    assert len(a) == len(b) == 3 and all(len(x) == 3 for x in a + b)
    assert not set(sum(a, [])) & set(sum(b, []))
    assert a == epoch_batches(20, 3, epoch=1, seed=5, rank=0, world=2)
    assert a != epoch_batches(20, 3, epoch=2, seed=5, rank=0, world=2)


def test_train_writes_results_checkpoints_and_learns_mean_pose(tmp_path):
    res, model = train(_cfg(tmp_path / "run"), _fake_data())
    run = tmp_path / "run"
    for name in ("config.yaml", "last.pt", "best.pt", "results.json", "results.md"):
        assert (run / name).is_file(), name
    assert any((run / "tb").iterdir())
    saved = json.loads((run / "results.json").read_text())
    for key in ("mpjpe", "pa_mpjpe", "mean_pose_mpjpe", "mpjpe_truncated_all", "mpjpe_truncated_in_crop", "mrpe",
                "mrpe_x", "mrpe_y", "mrpe_z", "num_test_crops", "train_seconds", "train_samples_per_s", "config"):
        assert key in saved, key
    assert saved["num_test_crops"] == 6 and saved["iterations"] == 8
    # the mean pose of the 16 training crops, seen twice, is what mean_pose_mpjpe predicts
    state = load_checkpoint(run / "last.pt")
    task = state["extra"]["task"]
    gt = _crop_batch(range(16))["joints3d_cam"].double()
    mean = (gt - gt[:, :1]).mean(0).numpy()
    assert np.allclose(np.asarray(task["mean_pose_sum"]) / task["mean_pose_count"], mean, atol=1e-6)
    assert (state["step"], state["epoch"]) == (8, 2)


@pytest.mark.slow
def test_resume_is_exact(tmp_path):
    _, straight = train(_cfg(tmp_path / "a"), _fake_data())
    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path / "b"), _fake_data(fail_at=5))
    _, resumed = train(_cfg(tmp_path / "b"), _fake_data(), resume=True)
    for (k, a), b in zip(straight.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    ra = json.loads((tmp_path / "a" / "results.json").read_text())
    rb = json.loads((tmp_path / "b" / "results.json").read_text())
    assert ra["mpjpe"] == rb["mpjpe"] and ra["mean_pose_mpjpe"] == rb["mean_pose_mpjpe"]


def _ddp_worker(rank, world, port, out_dir, result_dir):
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    _, model = train(_cfg(out_dir, epochs=1, device="cpu"), _fake_data())
    torch.save({k: v for k, v in model.named_parameters()}, os.path.join(result_dir, f"rank{rank}.pt"))


@pytest.mark.slow
def test_ddp_two_processes_end_with_identical_weights(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_ddp_worker, args=(2, port, str(tmp_path / "run"), str(tmp_path)), nprocs=2, join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    assert all(torch.equal(w0[k], init["model"][k]) for k in w0)         # rank 0 wrote the trained weights
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["world_size"] == 2 and saved["iterations"] == 2      # 16 samples / (4 x 2 ranks)


# ------------------------------------------------------------------ tiny rendered dataset, CLI, predictions
_STANDING_WORLD = np.array([
    [0, 0, 950], [-130, 0, 950], [-130, 0, 500], [-130, 0, 80], [130, 0, 950], [130, 0, 500], [130, 0, 80],
    [0, 0, 1200], [0, 0, 1450], [0, -20, 1550], [0, 0, 1680], [170, 0, 1420], [190, 0, 1150], [200, 0, 900],
    [-170, 0, 1420], [-190, 0, 1150], [-200, 0, 900]], dtype=np.float64)


def _tiny_poseset():
    """Two frames x 2 cameras for subjects 1 and 8 (a standing pose, slightly moved per frame)."""
    from lifting.datasets.samples import PoseSet
    from lifting.geometry.cameras import h36m_cameras

    cams = h36m_cameras()
    rows = {k: [] for k in ("j2", "j3", "subject", "camera", "frame", "f", "c")}
    for subject in (1, 8):
        for frame in (0, 5):
            world = _STANDING_WORLD + np.array([100.0 * frame, 50.0 * subject, 0])
            for camera in (1, 2):
                cam = cams[(subject, camera)]
                j3 = cam.world_to_camera(world)
                rows["j3"].append(j3)
                rows["j2"].append(cam.project(j3, distortion=False))
                rows["subject"].append(subject)
                rows["camera"].append(camera)
                rows["frame"].append(frame)
                rows["f"].append(cam.f)
                rows["c"].append(cam.c)
    n = len(rows["j3"])
    return PoseSet("h36m_17", np.array(rows["j2"]), np.array(rows["j3"]), np.array(rows["subject"]),
                   np.array(["Walking"] * n), np.zeros(n, dtype=np.int64), np.array(rows["camera"]),
                   np.array(rows["frame"]), np.array(rows["f"]), np.array(rows["c"]))


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from lifting.synth.writer import write_rendered_dataset

    root = tmp_path_factory.mktemp("rendered")
    write_rendered_dataset(root, _tiny_poseset(), image_size=128, seed=0)
    return root


def _script(name):
    """A script's module (main(argv) -> exit code; run(argv) raises UserError)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"),
                                                  Path(__file__).resolve().parents[1] / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cli(monkeypatch, capsys, *args):
    """Run main_metro.py in-process -> (exit code, stdout, stderr)."""
    code = _script("main_metro.py").main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize("script", ["main_metro.py", "main_rootnet.py"])
def test_predict_flags_are_checked_before_any_work(script, tmp_path):
    from lifting.errors import UserError

    run = _script(script).run
    with pytest.raises(UserError, match="--out and --subjects go with --predict"):
        run(["--out", str(tmp_path / "p.npz")])
    with pytest.raises(UserError, match=r"--subjects items must be one of"):
        run(["--set", "load=missing", "--predict", str(tmp_path), "--subjects", "3", "--out", str(tmp_path / "p.npz")])
    # --out is refused before the checkpoint (missing here) is looked for
    with pytest.raises(UserError, match=r"--out .*p\.txt: expected a file ending in \.npz"):
        run(["--set", "load=missing", "--predict", str(tmp_path), "--out", str(tmp_path / "p.txt")])
    with pytest.raises(UserError, match="missing: no such checkpoint file or run directory"):
        run(["--set", "load=missing", "--predict", str(tmp_path), "--out", str(tmp_path / "p.npz")])
    assert not (tmp_path / "p.npz").exists()


TINY = ["backbone=resnet18", "crop_size=64", "batch_size=2", "eval_batch_size=4", "iterations=2", "threads=1",
        "abs_start=1", "weak_steps=1", "device=cpu", "train_subjects=1", "test_subjects=8"]


def test_crop_and_back_to_original_camera_is_exact(tiny_dataset):
    from lifting.augment.crops import to_crop_frame
    from lifting.augment.warp import crop_images
    from lifting.datasets.images import ImageDataset, read_image
    from lifting.inference.estimator import to_original_camera

    ds = ImageDataset(tiny_dataset, [1, 8])
    images = [read_image(p) for p in ds.image_paths]
    crops, K, K_crop, R = crop_images(images, ds.boxes, ds.K, 48, torch.device("cpu"))
    assert crops.shape == (len(ds), 3, 48, 48)
    joints = to_crop_frame(torch.tensor(ds.joints3d_cam), R.double(), torch.zeros(len(ds), dtype=torch.bool))
    uv = joints[..., :2] / joints[..., 2:] * K_crop.double()[:, None, [0, 1], [0, 1]] + K_crop.double()[:, None, :2, 2]
    assert (uv.amin((0, 1)) > -5).all() and (uv.amax((0, 1)) < 53).all()        # the person fills the crop
    back = to_original_camera(joints - joints[:, :1], joints, uv, K, K_crop, R)
    assert np.abs(back["poses3d_abs"] - ds.joints3d_cam).max() < 0.5              # float32 rotation
    assert np.abs(back["poses2d"] - ds.joints2d_px).max() < 0.05
    rel = ds.joints3d_cam - ds.joints3d_cam[:, :1]
    assert np.abs(back["poses3d_rel"] - rel).max() < 0.5


def test_train_predict_and_swap_2d(tiny_dataset, tmp_path, monkeypatch, capsys):
    from lifting.datasets.images import ImageDataset
    from lifting.datasets.samples import PoseSet, replace_2d_from_predictions

    run = tmp_path / "run"
    code, out, err = _cli(monkeypatch, capsys, "--set", "data_source=rendered", f"image_dir={tiny_dataset}",
                          f"out_dir={run}", *TINY)
    assert code == 0, err
    res = json.loads((run / "results.json").read_text())
    assert res["num_test_crops"] == 4 and res["iterations"] == 2 and res["config"]["crop_size"] == 64
    preds = tmp_path / "preds.npz"
    code, out, err = _cli(monkeypatch, capsys, "--set", f"load={run}", "device=cpu", "flip_tta=true",
                          "--predict", tiny_dataset, "--out", preds)
    assert code == 0, err
    with np.load(preds) as npz:
        data = {k: npz[k] for k in npz.files}
    assert data["joints2d_px"].shape == (8, 17, 2) and data["joints3d_cam"].shape == (8, 17, 3)
    assert set(data["action"].tolist()) == {"Walking"} and np.isfinite(data["joints3d_cam"]).all()
    ds = ImageDataset(tiny_dataset, [1, 8])
    n = len(ds)
    poses = PoseSet("h36m_17", ds.joints2d_px, ds.joints3d_cam, ds.subject, ds.action, ds.subaction, ds.camera,
                    ds.frame, ds.f, ds.c)
    swapped = replace_2d_from_predictions(poses, preds)
    assert len(swapped) == n and np.allclose(swapped.joints2d_px, data["joints2d_px"])


def _break_json(root, name, edit):
    path = root / "annotations" / name
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


@pytest.mark.parametrize("case", ["missing_image", "wrong_key", "bad_image_id", "box_outside"])
def test_bad_datasets_are_one_line_errors(case, tiny_dataset, tmp_path, monkeypatch, capsys):
    import shutil

    root = tmp_path / "ds"
    shutil.copytree(tiny_dataset, root)
    if case == "missing_image":
        next((root / "images").rglob("*.jpg")).unlink()
    elif case == "wrong_key":
        _break_json(root, "Human36M_subject1_data.json", lambda d: d["annotations"][0].pop("bbox"))
    elif case == "bad_image_id":
        _break_json(root, "Human36M_subject1_data.json", lambda d: d["annotations"][0].update(image_id=99))
    else:
        _break_json(root, "Human36M_subject1_data.json", lambda d: d["annotations"][0].update(bbox=[100, 100, 900, 50]))
    code, _, err = _cli(monkeypatch, capsys, "--set", "data_source=rendered", f"image_dir={root}",
                        f"out_dir={tmp_path / 'run'}", *TINY)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "run" / "results.json").exists()


@pytest.mark.parametrize("args,needle", [
    (["--set", "backbone=vgg16"], "backbone"),
    (["--set", "crop_size=big"], "crop_size"),
    (["--set", "no_such_key=1"], "unknown key"),
    (["--set", "output_stride=12"], "output_stride"),
    (["--set", "crop_size=48"], "multiple of output_stride"),
    (["--set", "backbone=mobilenet_v3_small", "test_output_stride=8"],
     "test_output_stride 8: backbone mobilenet_v3_small runs at output stride 32 or 16"),
    (["--set", "crowd_prob=0.3", "data_source=rendered"], "crowd_prob 0.3 needs data_source: online"),
    (["--set", "crowd_prob=1.5"], "crowd_prob"),
    (["--predict", "somewhere"], "--predict needs"),
    (["--set", "load=missing_run_dir", "--predict", "somewhere", "--out", "p.npz"], "not found"),
    (["--resume", "--set", "out_dir=never_written_run"], "nothing to resume"),
    (["--opt", "missing.yaml"], "config file not found"),
    (["--set", "data_source=rendered", "image_dir=no_such_dir", "cache_dir=no_such_cache"], "no_such_dir"),
    (["--set", "data_dir=no_such_h5_dir", "data_source=online"], "no_such_h5_dir"),
])
def test_bad_cli_input_is_one_line_error(args, needle, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(monkeypatch, capsys, *args)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err


def test_flip_average_of_an_equivariant_prediction_is_unchanged():
    from lifting.geometry.skeletons import H36M_17
    from lifting.inference.estimator import average_flipped

    g = torch.Generator().manual_seed(0)
    S = 64
    K_crop = torch.tensor([[100.0, 0, (S - 1) / 2], [0, 100.0, (S - 1) / 2], [0, 0, 1]]).expand(2, 3, 3)
    out = {"pose3d_rel": torch.randn(2, 17, 3, generator=g) * 300, "pose2d": torch.rand(2, 17, 2, generator=g) * S}
    perm = list(H36M_17.flip_perm)
    mirrored = {"pose3d_rel": out["pose3d_rel"][:, perm] * torch.tensor([-1.0, 1.0, 1.0]),
                "pose2d": torch.stack([S - 1 - out["pose2d"][..., 0], out["pose2d"][..., 1]], -1)[:, perm]}
    avg = average_flipped(out, mirrored, K_crop)
    assert torch.allclose(avg["pose3d_rel"], out["pose3d_rel"], atol=1e-4)
    assert torch.allclose(avg["pose2d"], out["pose2d"], atol=1e-4)
    shifted = average_flipped(out, {**mirrored, "pose2d": mirrored["pose2d"] + torch.tensor([2.0, 0.0])}, K_crop)
    assert torch.allclose(shifted["pose2d"][..., 0], out["pose2d"][..., 0] - 1.0, atol=1e-4)   # mirrored back
