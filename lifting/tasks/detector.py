"""Task: the person detector on multi-person scenes.

Training scenes are drawn and rendered on the fly from the training subjects' world poses (new ones every step,
reproducible from seed, epoch and step), or read from a folder `render_dataset.py --scenes` wrote (`scene_dir`);
every person with a body pixel in view is a target. The test set is a fixed set of scenes from the test subjects'
poses (rendered from `test_scene_seed`, or the folder's test split). Evaluation is COCO-style AP over the people
with at least `MIN_VISIBLE_JOINTS` of 17 joints visible; the others are ignore regions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.augment.crops import seeded_generator
from lifting.checkpoint import load_trained, load_weights
from lifting.datasets.images import read_image
from lifting.datasets.scenes import SceneDataset, read_scenes
from lifting.engine import Dist, TrainPlan
from lifting.errors import UserError
from lifting.metrics import BoxTruth, detection_ap
from lifting.models.detector import PersonDetector
from lifting.synth.poses import pose_data_dir
from lifting.synth.scenes import MIN_VISIBLE_JOINTS, SceneOptions, load_pose_pool, render_scenes, sample_scenes


def scene_batch(images) -> tuple[torch.Tensor, list[BoxTruth]]:
    """A rendered `SceneImages` -> (images (B, 3, H, W), per image the BoxTruth of its people in view)."""
    truths = []
    for b in range(len(images.image)):
        keep = images.in_view[b]
        truths.append(BoxTruth(images.boxes[b][keep].float().cpu().numpy(),
                               (images.joint_visible[b][keep].sum(-1) < MIN_VISIBLE_JOINTS).cpu().numpy()))
    return images.image, truths


def split_name(subjects) -> str:
    """The scene set `render_dataset.py --scenes` writes for these subjects by default: 'S1_5_6_7'."""
    return "S" + "_".join(str(s) for s in subjects)


def folder_batches(scenes: SceneDataset, images: np.ndarray, size: int) -> list[tuple[torch.Tensor, list[BoxTruth]]]:
    """Images (by index into `scenes.images`) of a scene folder with their people, in batches of `size`."""
    out = []
    for start in range(0, len(images), size):
        pixels, truths = [], []
        for i in images[start:start + size]:
            rows = scenes.people_of(int(i))
            box = np.asarray(scenes.boxes[rows], np.float32).reshape(-1, 4)
            truths.append(BoxTruth(np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], 1),
                                   np.asarray(scenes.keypoints_vis[rows].sum(-1) < MIN_VISIBLE_JOINTS)))
            pixels.append(read_image(scenes.image_dir / str(scenes.images[int(i)]["file_name"])))
        if len({p.shape for p in pixels}) > 1:
            raise UserError(f"{scenes.image_dir}: scene images differ in size ({pixels[0].shape[1:]} and others); "
                            "a scene set is rendered at one size")
        out.append((torch.stack(pixels), truths))
    return out


class DetectorTask:
    kind = "detector"

    def __init__(self, cfg: dict[str, Any]):
        if cfg["eval_only"] and not cfg["load"]:
            raise UserError("eval_only: needs `load` (a main_detector.py run dir or checkpoint to evaluate)")
        self.cfg = cfg
        self.scene = SceneOptions(width=cfg["image_width"], height=cfg["image_height"],
                                  people=(cfg["min_people"], cfg["max_people"]), distance_mm=tuple(cfg["distance_mm"])).check()

    def setup(self, dist: Dist) -> TrainPlan:
        cfg, self.dist = self.cfg, dist
        if cfg["scene_dir"]:
            self.train_set = read_scenes(cfg["scene_dir"], split_name(cfg["train_subjects"]))
            test_set = read_scenes(cfg["scene_dir"], split_name(cfg["test_subjects"]))
            self.test = folder_batches(test_set, np.arange(len(test_set.images)), cfg["eval_batch_size"])
            scenes = len(self.train_set.images)
        else:
            data_dir = pose_data_dir(cfg["data_dir"], cfg["cache_dir"], cfg["synthetic_size"])
            self.train_pool = load_pose_pool(data_dir, cfg["train_subjects"], cfg["stride"])
            test_pool = load_pose_pool(data_dir, cfg["test_subjects"], cfg["test_stride"])
            self.test = self._render(test_pool, cfg["test_scenes"], cfg["test_scene_seed"])
            scenes = cfg["scenes_per_epoch"]
        self.model = PersonDetector(cfg["backbone"], cfg["fpn_channels"], (cfg["image_height"], cfg["image_width"]),
                                    cfg["score_thresh"], cfg["nms_iou"], cfg["max_detections"]).to(dist.device)
        if cfg["load"]:
            loaded = load_trained(cfg["load"], "detector")
            load_weights(self.model, loaded.model.state_dict(), loaded.path)
        self.per_epoch = max(1, scenes // (cfg["batch_size"] * dist.world))
        return TrainPlan(self.model, self.per_epoch, cfg["batch_size"], train=not cfg["eval_only"], optimizer="adam",
                         best_key="ap50", best_mode="max", curve_keys=("ap50", "ap", "recall50"))

    def _render(self, pool, count: int, seed: int) -> list[tuple[torch.Tensor, list[BoxTruth]]]:
        """Scenes drawn and rendered from `seed`, in batches of eval_batch_size."""
        rng, generator, size = np.random.default_rng(seed), torch.Generator().manual_seed(seed), self.cfg["eval_batch_size"]
        return [scene_batch(render_scenes(sample_scenes(pool, min(size, count - i), self.scene, rng), generator,
                                          self.dist.device))
                for i in range(0, count, size)]

    def batches(self, epoch: int, start: int, generator: torch.Generator):
        """Training scenes of (seed, epoch, rank, step): rendered as they are needed, or a shuffled pass over the
        scene folder; each flipped at random."""
        cfg, B = self.cfg, self.cfg["batch_size"]
        order = None
        if cfg["scene_dir"]:
            order = np.random.default_rng([cfg["seed"], epoch]).permutation(len(self.train_set.images))
        for step in range(start, self.per_epoch):
            key = [cfg["seed"], epoch, self.dist.rank, step]
            rng = np.random.default_rng(key)
            if order is None:
                scenes = sample_scenes(self.train_pool, B, self.scene, rng)
                images, truths = scene_batch(render_scenes(scenes, seeded_generator(*key), self.dist.device))
            else:
                first = (step * self.dist.world + self.dist.rank) * B
                images, truths = folder_batches(self.train_set, order[first:first + B], B)[0]
            flip = rng.random(len(truths)) < cfg["flip_prob"]
            targets = []
            for b, truth in enumerate(truths):
                boxes = torch.as_tensor(truth.boxes)
                if flip[b]:
                    width = images.shape[-1]
                    images[b] = images[b].flip(-1)
                    boxes = torch.stack([width - boxes[:, 2], boxes[:, 1], width - boxes[:, 0], boxes[:, 3]], -1)
                boxes = boxes[((boxes[:, 2:] - boxes[:, :2]) >= 2).all(-1)]
                targets.append({"boxes": boxes.to(self.dist.device),
                                "labels": torch.ones(len(boxes), dtype=torch.int64, device=self.dist.device)})
            yield {"image": images.to(self.dist.device), "targets": targets}

    def loss(self, net: torch.nn.Module, batch: dict[str, Any], step: int):
        """FCOS: sigmoid focal classification + GIoU box regression + centre-ness BCE, summed."""
        parts = net(batch["image"], batch["targets"])
        return sum(parts.values()), {k: v.detach() for k, v in parts.items()}

    @torch.no_grad()
    def evaluate(self, final: bool) -> dict[str, Any]:
        """AP50, AP (IoU 0.5:0.95) and recall at IoU 0.5 on the test scenes."""
        self.model.eval()
        detections, truths = [], []
        for images, truth in self.test:
            for out in self.model(images.to(self.dist.device)):
                detections.append((out["boxes"].float().cpu(), out["scores"].float().cpu()))
            truths += truth
        self.model.train()
        return {**detection_ap(detections, truths), "num_test_images": len(truths),
                "detections_per_image": float(np.mean([len(d[0]) for d in detections]))}

    def state(self) -> dict[str, Any]:
        return {"arch": self.model.arch()}

    def load_state(self, state: dict[str, Any]) -> None:
        pass

    def artefacts(self, out_dir: Path) -> None:
        pass

    def report(self, r: dict[str, Any]) -> tuple[dict[str, Any], str]:
        best = r.get("best") or r
        text = "\n".join([
            "# Person detector results", "",
            f"{r['num_test_images']} test scenes ({r['num_people']} people with >= {MIN_VISIBLE_JOINTS} of 17 "
            f"joints visible, {r['num_ignored']} ignore regions), {r['iterations']} steps, "
            f"{r['train_seconds']:.0f} s training.", "",
            "| | AP50 | AP (IoU 0.5:0.95) | recall at IoU 0.5 |", "|---|---|---|---|",
            f"| last | {r['ap50']:.3f} | {r['ap']:.3f} | {r['recall50']:.3f} |",
            f"| best AP50 | {best['ap50']:.3f} | {best['ap']:.3f} | {best['recall50']:.3f} |"]) + "\n"
        return {"best_ap50": best["ap50"], "out_dir": self.cfg["out_dir"]}, text
