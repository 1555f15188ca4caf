"""The MobileNetV4 network, built from a :class:`~mnv4_rl.models.specs.ModelSpec`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..modules import SE, UIB, ConvNormAct, FusedIB, MobileMQA, Stem, make_activation, make_norm
from ..modules.layers import folded_once
from .specs import BlockSpec, ConvBNAct, FusedIBSpec, ModelSpec, MQASpec, SESpec, UIBSpec


def build_block(
    spec: BlockSpec,
    in_channels: int,
    act: str,
    norm: str,
    layer_scale_init: float | None,
    drop_path: float,
) -> tuple[nn.Module, int]:
    """Instantiate one block from its spec; return it with its output width."""
    if isinstance(spec, ConvBNAct):
        return ConvNormAct(
            in_channels, spec.out, spec.kernel, spec.stride, act=act, norm=norm
        ), spec.out
    if isinstance(spec, FusedIBSpec):
        block = FusedIB(
            in_channels, spec.out, spec.kernel, spec.stride, spec.expand, act, norm, drop_path
        )
        return block, spec.out
    if isinstance(spec, UIBSpec):
        block = UIB(
            in_channels,
            spec.out,
            spec.start,
            spec.mid,
            spec.stride,
            spec.expand,
            act,
            norm,
            layer_scale_init,
            drop_path,
        )
        return block, spec.out
    if isinstance(spec, MQASpec):
        block = MobileMQA(
            in_channels,
            spec.heads,
            spec.key_dim,
            kv_stride=spec.kv_stride,
            kv_kernel=spec.kv_kernel,
            norm=norm,
            layer_scale_init=layer_scale_init,
            drop_path=drop_path,
        )
        return block, in_channels
    if isinstance(spec, SESpec):
        return SE(in_channels, spec.squeeze_ratio, act), in_channels
    raise TypeError(f"unknown block spec {spec!r}")


def _block_stride(spec: BlockSpec) -> int:
    return getattr(spec, "stride", 1)


class MobileNetV4(nn.Module):
    """MobileNetV4 classifier / backbone.

    ``stem -> blocks (5 stages) -> global average pool -> 1x1 conv (head_hidden_size) -> BN -> act
    -> dropout -> linear``. Parameter for parameter the same network as timm's ``mobilenetv4_*``.

    Attributes (as in timm):
        num_features: channels of ``forward_features`` output (960 for full-width models).
        head_hidden_size: width of the pooled pre-logits vector (1280); this is the output size
            when ``num_classes=0``.
        feature_info: one dict per feature tap (``num_chs``, ``reduction``, ``module``).
        min_input_size: smallest height/width accepted (the network's total stride).

    Args:
        spec: the architecture table.
        in_channels: input channels (any >= 1).
        num_classes: classifier outputs; 0 returns the pooled ``head_hidden_size`` features.
        drop_rate: dropout before the classifier.
        drop_path_rate: stochastic depth; block ``i`` of ``N`` gets ``drop_path_rate * i / N``.
        norm: ``"batch"`` (default), ``"frozen"`` (BatchNorm with fixed statistics) or ``"group"``.
        features_only: drop the head; ``forward`` returns the feature maps of ``feature_info``.
        channels_last: run convolutions in channels-last memory format (faster on CPU and GPU).
    """

    def __init__(
        self,
        spec: ModelSpec,
        in_channels: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        norm: str = "batch",
        features_only: bool = False,
        channels_last: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1:
            raise ValueError(f"in_channels must be >= 1, got {in_channels}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        for name, rate in (("drop_rate", drop_rate), ("drop_path_rate", drop_path_rate)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {rate}")
        self.spec = spec
        self.in_channels = in_channels
        self.num_classes = num_classes
        self.drop_rate = drop_rate
        self.features_only = features_only

        self.stem = Stem(in_channels, spec.stem, spec.act, norm, spec.stem_stride, spec.stem_kernel)
        reduction = spec.stem_stride
        self.feature_info = [dict(num_chs=spec.stem, reduction=reduction, module="stem")]

        total_blocks = sum(len(stage) for stage in spec.stages)
        block_index, channels = 0, spec.stem
        stages = []
        for stage_index, stage_specs in enumerate(spec.stages):
            blocks = []
            for block_spec in stage_specs:
                rate = drop_path_rate * block_index / total_blocks
                block, channels = build_block(
                    block_spec, channels, spec.act, norm, spec.layer_scale_init, rate
                )
                blocks.append(block)
                reduction *= _block_stride(block_spec)
                block_index += 1
            stages.append(nn.Sequential(*blocks))
            self.feature_info.append(
                dict(num_chs=channels, reduction=reduction, module=f"blocks.{stage_index}")
            )
        self.blocks = nn.Sequential(*stages)
        self.num_features = channels
        # timm taps the stages that end at a new stride (the last one that reaches each stride).
        self.feature_info = self._distinct_strides(self.feature_info)
        self.min_input_size = reduction

        if features_only:
            self.head_hidden_size = channels
        else:
            self._build_head(norm, spec.head_hidden_size)
        self._init_weights()
        # Every conv-norm-act layer, for folding them all at once (a plain list: not a submodule).
        self._conv_layers = [m for m in self.modules() if isinstance(m, ConvNormAct)]
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    @staticmethod
    def _distinct_strides(info: list[dict]) -> list[dict]:
        kept: dict[int, dict] = {}
        for entry in info:
            kept[entry["reduction"]] = entry  # a later stage at the same stride replaces an earlier
        return list(kept.values())

    def _build_head(self, norm: str, hidden: int) -> None:
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.head_gemm = True
        if hidden:
            self.conv_head = nn.Conv2d(self.num_features, hidden, 1, bias=False)
            self.norm_head = make_norm(norm, hidden)
            self.act_head = make_activation(self.spec.act)
            self.head_hidden_size = hidden
        else:
            self.conv_head = self.norm_head = self.act_head = nn.Identity()
            self.head_hidden_size = self.num_features
        self.classifier = self._make_classifier(self.num_classes)

    def _make_classifier(self, num_classes: int) -> nn.Module:
        if num_classes == 0:
            return nn.Identity()
        classifier = nn.Linear(self.head_hidden_size, num_classes)
        bound = 1.0 / math.sqrt(num_classes)
        nn.init.uniform_(classifier.weight, -bound, bound)
        nn.init.zeros_(classifier.bias)
        return classifier

    def _init_weights(self) -> None:
        """Fan-out normal init for convs (as the MobileNet/EfficientNet family), xavier for attention."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                fan_out //= module.groups
                nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d | nn.GroupNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for module in self.modules():
            if isinstance(module, MobileMQA):
                for conv in module.modules():
                    if isinstance(conv, nn.Conv2d):
                        nn.init.xavier_uniform_(conv.weight)

    # ----------------------------------------------------------------------------------- checks
    def check_input(self, x: torch.Tensor) -> None:
        """Raise a clear error for inputs the network cannot take."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"expected a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 4:
            raise ValueError(
                f"expected a 4-D input (batch, channels, height, width), got shape {tuple(x.shape)}"
                + ("; add a batch axis with x.unsqueeze(0)" if x.ndim == 3 else "")
            )
        if x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected {self.in_channels} input channels, got {x.shape[1]} (input shape "
                f"{tuple(x.shape)}); build the model with in_channels={x.shape[1]}"
                + (
                    " or pass channels first (N, C, H, W)"
                    if x.shape[-1] == self.in_channels
                    else ""
                )
            )
        height, width = x.shape[-2:]
        if min(height, width) < self.min_input_size:
            raise ValueError(
                f"input {height}x{width} is too small: this network downsamples by "
                f"{self.min_input_size}, so height and width must be at least "
                f"{self.min_input_size}; resize the input (e.g. F.interpolate, or gymnasium's "
                f"ResizeObservation wrapper)"
            )
        if not x.is_floating_point():
            raise TypeError(
                f"expected a floating-point input, got {x.dtype}; convert with x.float()"
            )
        weight_dtype = self.stem.conv.weight.dtype
        if x.dtype != weight_dtype:
            raise TypeError(
                f"input is {x.dtype} but the model's weights are {weight_dtype}: convert the "
                f"input (x.to({weight_dtype})) or the model (model.to({x.dtype}))"
            )

    # ---------------------------------------------------------------------------------- forward
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Stem and all blocks: ``(B, C, H, W) -> (B, num_features, H/32, W/32)``."""
        with folded_once(self._conv_layers):
            return self.blocks(self.stem(self._prepare(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Pool, head conv, norm, act; then dropout and classifier unless ``pre_logits``."""
        x = self.global_pool(x)
        if self.head_gemm and isinstance(self.conv_head, nn.Conv2d):
            # A 1x1 conv on a pooled 1x1 map is a linear layer; PyTorch's CPU conv would take
            # its slow im2col path here.
            weight, bias = self.conv_head.weight, self.conv_head.bias
            x = F.linear(x.flatten(1), weight.flatten(1), bias)[:, :, None, None]
        else:
            x = self.conv_head(x)
        x = self.act_head(self.norm_head(x)).flatten(1)
        if pre_logits:
            return x
        if self.drop_rate > 0.0:
            x = F.dropout(x, self.drop_rate, self.training)
        return self.classifier(x)

    def forward_intermediates(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at each ``feature_info`` tap (strides 2, 4, 8, 16, 32 for the paper models)."""
        with folded_once(self._conv_layers):
            x = self.stem(self._prepare(x))
            taps = {entry["module"] for entry in self.feature_info}
            out = [x] if "stem" in taps else []
            for index, stage in enumerate(self.blocks):
                x = stage(x)
                if f"blocks.{index}" in taps:
                    out.append(x)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor | list[torch.Tensor]:
        if self.features_only:
            return self.forward_intermediates(x)
        return self.forward_head(self.forward_features(x))

    # ------------------------------------------------------------------------------- utilities
    def reset_classifier(self, num_classes: int) -> None:
        """Replace the classifier with a freshly initialised one (0 = pooled features)."""
        if self.features_only:
            raise RuntimeError("a features_only model has no classifier")
        self.num_classes = num_classes
        device = self.conv_head.weight.device if hasattr(self.conv_head, "weight") else None
        self.classifier = self._make_classifier(num_classes).to(device)

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def fuse_for_inference(self) -> MobileNetV4:
        """Fold every BatchNorm into its convolution for good (the head's too); returns ``self``.

        For an inference copy in eval mode (export, deployment): the graph then holds plain
        convolutions with bias. GroupNorm layers stay. Training the fused model afterwards
        trains the fused convolutions; the BatchNorm layers are gone.
        """
        self.eval()
        for module in self.modules():
            if isinstance(module, ConvNormAct) and isinstance(module.bn, nn.BatchNorm2d):
                module.fuse()
        head, norm = getattr(self, "conv_head", None), getattr(self, "norm_head", None)
        if isinstance(head, nn.Conv2d) and isinstance(norm, nn.BatchNorm2d):
            with torch.no_grad():
                scale = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
                fused = nn.Conv2d(head.in_channels, head.out_channels, 1, bias=True)
                fused.weight.copy_(head.weight * scale.view(-1, 1, 1, 1))
                fused.bias.copy_(norm.bias - norm.running_mean * scale)
            self.conv_head, self.norm_head = fused.to(head.weight.device), nn.Identity()
        return self

    def set_bn_folding(self, enabled: bool) -> MobileNetV4:
        """Turn BatchNorm folding (eval/frozen path) on or off for every conv; returns ``self``."""
        for module in self.modules():
            if isinstance(module, ConvNormAct):
                module.fold_bn = enabled
        return self

    def set_fast_paths(self, enabled: bool) -> MobileNetV4:
        """Turn every fast path on or off (BatchNorm folding and 1x1 convs as one GEMM); with
        ``enabled=False`` each conv runs ``nn.Conv2d -> BatchNorm -> act``. Returns ``self``."""
        for module in self.modules():
            if isinstance(module, ConvNormAct):
                module.fold_bn = module.pointwise_gemm = enabled
        self.head_gemm = enabled
        return self
