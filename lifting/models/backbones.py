"""Image backbones of the estimator and RootNet: torchvision ResNets and MobileNetV3 trunks without their
classifiers, from random weights or a local torchvision state_dict (never downloaded).

Every trunk pads its convolutions symmetrically (k // 2 times the dilation), so each stride-2 layer maps output
cell i to input pixel 2i and output cell i is centred at input pixel `stride * i` (measured in tests/test_metro.py):
the estimator's decoding holds for all of them. ResNets run at output stride 32/16/8/4 (later stages dilated);
MobileNetV3 at 32, or 16 with torchvision's dilated last stage (same weights).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from lifting.errors import UserError

RESNETS = ("resnet18", "resnet34", "resnet50")
MOBILENETS = ("mobilenet_v3_small", "mobilenet_v3_large")
BACKBONES = RESNETS + MOBILENETS
STRIDES = {**{name: (32, 16, 8, 4) for name in RESNETS}, **{name: (32, 16) for name in MOBILENETS}}

# Which of layer2..layer4 run dilated (stride 1) for each output stride.
_DILATE = {32: (False, False, False), 16: (False, False, True), 8: (False, True, True), 4: (True, True, True)}


def mobilenet_v3(name: str, dilated: bool = False) -> nn.Module:
    """torchvision MobileNetV3 from random weights with BatchNorm momentum 0.1.

    torchvision's default momentum 0.01 is made for fine-tuning: from random weights the running statistics lag
    the moving network so far that evaluation (which uses them) finds almost nothing (detector: AP50 0.001 where
    batch statistics give 0.68 after 200 steps). The usual 0.1 tracks it. `dilated`: last stage at stride 1,
    dilation 2 (output stride 16)."""
    return getattr(tvm, name)(weights=None, dilated=dilated,
                              norm_layer=partial(nn.BatchNorm2d, eps=1e-3, momentum=0.1))


def _set_conv(conv: nn.Conv2d, stride: int | None = None, dilation: int | None = None) -> None:
    if stride is not None:
        conv.stride = (stride, stride)
    if dilation is not None and conv.kernel_size[0] > 1:
        conv.dilation = (dilation, dilation)
        conv.padding = (dilation * (conv.kernel_size[0] // 2),) * 2


def _dilate_basic_layer(layer: nn.Sequential, previous: int, dilation: int) -> None:
    """BasicBlock version of torchvision's Bottleneck dilation: the strided first block keeps the
    previous dilation on its strided conv and becomes stride 1; every later 3x3 conv uses `dilation`."""
    first = layer[0]
    _set_conv(first.conv1, stride=1, dilation=previous)
    _set_conv(first.conv2, dilation=dilation)
    if first.downsample is not None:
        _set_conv(first.downsample[0], stride=1)
    for block in layer[1:]:
        _set_conv(block.conv1, dilation=dilation)
        _set_conv(block.conv2, dilation=dilation)


def _resnet(name: str, output_stride: int) -> nn.Module:
    dilate = _DILATE[output_stride]
    bottleneck = name == "resnet50"
    net = getattr(tvm, name)(weights=None, replace_stride_with_dilation=list(dilate) if bottleneck else None)
    if not bottleneck:
        dilation = 1
        for layer, d in zip((net.layer2, net.layer3, net.layer4), dilate):
            if d:
                _dilate_basic_layer(layer, dilation, dilation * 2)
                dilation *= 2
    return net


def build_backbone(name: str, output_stride: int = 32,
                   weights_path: str | Path | None = None) -> tuple[nn.Sequential, int]:
    """Trunk without pooling/classifier at `output_stride` -> (module, output channels).

    `weights_path`: a local torchvision state_dict of the same architecture (e.g. ImageNet weights); the
    classifier's entries are loaded with the rest and then dropped.
    """
    if name not in BACKBONES:
        raise UserError(f"backbone {name!r}: expected one of {', '.join(BACKBONES)}")
    if output_stride not in STRIDES[name]:
        raise UserError(f"output stride {output_stride} with backbone {name}: expected one of {STRIDES[name]}")
    mobile = name in MOBILENETS
    net = mobilenet_v3(name, dilated=output_stride == 16) if mobile else _resnet(name, output_stride)
    if weights_path is not None:
        path = Path(weights_path)
        if not path.is_file():
            raise UserError(f"{path}: backbone weights file not found")
        try:
            net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as e:
            raise UserError(f"{path}: not a torchvision {name} state_dict ({e.__class__.__name__})") from None
    if mobile:
        return net.features, net.features[-1].out_channels
    body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4)
    return body, net.fc.in_features
