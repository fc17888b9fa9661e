"""Person detector: torchvision's FCOS (anchor-free, one stage) on a small ResNet + FPN, from random weights.

FCOS was picked for CPU training from scratch: one stage (no proposal sampling), no anchor shapes to tune, and a
narrow FPN/head (`channels`) keeps a step cheap. BatchNorm stays trainable (frozen BatchNorm, torchvision's
default for detection, is the identity when nothing is pretrained). Images enter at their own size (the
transform's resize is pinned to the training size) and are normalised by the transform.
"""

from __future__ import annotations

from typing import Any

import torch
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small, resnet18, resnet34
from torchvision.models.detection import FCOS
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import BackboneWithFPN
from torchvision.ops.feature_pyramid_network import LastLevelP6P7

from lifting.models.backbones import mobilenet_v3

# trunk -> (constructor, returned modules -> FPN input names, their channels): the stages at strides 8, 16, 32 px;
# P6, P7 (strides 64, 128) come from P5.
TRUNKS = {
    "resnet18": (resnet18, {"layer2": "0", "layer3": "1", "layer4": "2"}, [128, 256, 512]),
    "resnet34": (resnet34, {"layer2": "0", "layer3": "1", "layer4": "2"}, [128, 256, 512]),
    "mobilenet_v3_small": (mobilenet_v3_small, {"3": "0", "8": "1", "12": "2"}, [24, 48, 576]),
    "mobilenet_v3_large": (mobilenet_v3_large, {"6": "0", "12": "1", "16": "2"}, [40, 112, 960]),
}


def _trunk(name: str) -> torch.nn.Module:
    return mobilenet_v3(name).features if name.startswith("mobilenet") else TRUNKS[name][0](weights=None)


class PersonDetector(torch.nn.Module):
    """images (B, 3, H, W) in [0, 1] -> train: FCOS losses {classification, bbox_regression, bbox_ctrness} given
    targets [{boxes (n, 4) [x0, y0, x1, y1] px, labels (n,) = 1}]; eval: [{boxes (m, 4) px, scores (m,)}]."""

    def __init__(self, backbone: str = "resnet18", channels: int = 64, image_size: tuple[int, int] = (192, 256),
                 score_thresh: float = 0.05, nms_iou: float = 0.6, max_detections: int = 50):
        super().__init__()
        self.config = {"backbone": backbone, "channels": channels, "image_size": list(image_size),
                       "score_thresh": score_thresh, "nms_iou": nms_iou, "max_detections": max_detections}
        _, stages, stage_channels = TRUNKS[backbone]
        body = BackboneWithFPN(_trunk(backbone), stages, stage_channels, channels,
                               extra_blocks=LastLevelP6P7(channels, channels))
        anchors = AnchorGenerator(sizes=((8,), (16,), (32,), (64,), (128,)), aspect_ratios=((1.0,),) * 5)
        h, w = image_size
        self.fcos = FCOS(body, num_classes=2, min_size=min(h, w), max_size=max(h, w), anchor_generator=anchors,
                         score_thresh=score_thresh, nms_thresh=nms_iou, detections_per_img=max_detections)

    def arch(self) -> dict[str, Any]:
        """Constructor arguments, stored in checkpoints to rebuild the model."""
        return dict(self.config)

    def forward(self, images: torch.Tensor, targets: list[dict[str, torch.Tensor]] | None = None):
        out = self.fcos(list(images), targets)
        if self.training:
            return out
        return [{"boxes": o["boxes"], "scores": o["scores"]} for o in out]
