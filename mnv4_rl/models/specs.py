"""MobileNetV4 variants as data: one typed spec per block, one table per variant.

The tables follow the paper's appendix (Qin et al. 2024, arXiv 2404.10518, Tables 10-14) as built by
TF Model Garden and timm; ``tests/test_timm_parity.py`` proves them equal to timm block by block.
Stages are split where timm splits them (each begins with its stride-2 block; stage 4 is the final
1x1 conv to 960), so feature taps and checkpoint keys line up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..modules.layers import make_divisible


@dataclass(frozen=True)
class ConvBNAct:
    """Plain conv -> BN -> act (no residual). ``kernel``x``kernel``, ``stride``, to ``out`` channels."""

    kernel: int
    stride: int
    out: int


@dataclass(frozen=True)
class FusedIBSpec:
    """FusedIB: kxk expansion conv (ratio ``expand``) then linear 1x1 projection to ``out``."""

    kernel: int
    stride: int
    expand: float
    out: int


@dataclass(frozen=True)
class UIBSpec:
    """UIB with start/mid depthwise kernels (0 = absent), stride, expansion ratio and output width."""

    start: int
    mid: int
    stride: int
    expand: float
    out: int


@dataclass(frozen=True)
class MQASpec:
    """Mobile MQA block: ``heads`` query heads of ``key_dim``; K/V reduced by ``kv_stride``."""

    heads: int
    key_dim: int
    kv_stride: int = 1
    kv_kernel: int = 3


@dataclass(frozen=True)
class SESpec:
    """Squeeze-and-excitation gate (only in custom models)."""

    squeeze_ratio: float = 0.25


BlockSpec = ConvBNAct | FusedIBSpec | UIBSpec | MQASpec | SESpec


@dataclass(frozen=True)
class ModelSpec:
    """A whole network: stem width, stages of block specs, and the shared settings.

    Attributes:
        name: variant name.
        stem: stem width.
        stages: tuple of stages, each a tuple of block specs.
        act: activation everywhere (``"relu"`` or ``"gelu"``).
        layer_scale_init: layer-scale init on every UIB and MQA block, or ``None``.
        head_hidden_size: width of the 1x1 conv after pooling (1280), 0 for no head conv.
        stem_stride: stride of the stem conv.
        stem_kernel: kernel of the stem conv (3; equal to ``stem_stride`` for a patchify stem).
    """

    name: str
    stem: int
    stages: tuple[tuple[BlockSpec, ...], ...]
    act: str = "relu"
    layer_scale_init: float | None = None
    head_hidden_size: int = 1280
    stem_stride: int = 2
    stem_kernel: int = 3

    def scaled(self, multiplier: float, name: str) -> ModelSpec:
        """Width-multiplied copy: block outputs rounded to multiples of 8; stem and head unchanged."""

        def scale(block: BlockSpec) -> BlockSpec:
            if isinstance(block, ConvBNAct | FusedIBSpec | UIBSpec):
                return replace(block, out=make_divisible(block.out * multiplier))
            return block  # attention heads/dims and SE ratios are not width-scaled

        stages = tuple(tuple(scale(b) for b in stage) for stage in self.stages)
        return replace(self, name=name, stages=stages)


# Short constructors so that each variant reads as a table.
def cn(kernel: int, stride: int, out: int) -> ConvBNAct:
    return ConvBNAct(kernel, stride, out)


def fib(kernel: int, stride: int, expand: float, out: int) -> FusedIBSpec:
    return FusedIBSpec(kernel, stride, expand, out)


def uib(start: int, mid: int, stride: int, expand: float, out: int) -> UIBSpec:
    return UIBSpec(start, mid, stride, expand, out)


def mqa(heads: int, key_dim: int, kv_stride: int = 1) -> MQASpec:
    return MQASpec(heads, key_dim, kv_stride)


HEAD_960 = (cn(1, 1, 960),)

# Each UIB row is (start dw kernel, mid dw kernel, stride, expansion, out); 0 = no depthwise.
# Its kind: ExtraDW (both), IB (mid only), ConvNeXt (start only), FFN (neither), as in the
# paper's tables.
CONV_SMALL = ModelSpec(
    "conv_small",
    stem=32,
    stages=(
        (cn(3, 2, 32), cn(1, 1, 32)),
        (cn(3, 2, 96), cn(1, 1, 64)),
        (
            uib(5, 5, 2, 3.0, 96),  # ExtraDW
            uib(0, 3, 1, 2.0, 96),  # IB
            uib(0, 3, 1, 2.0, 96),  # IB
            uib(0, 3, 1, 2.0, 96),  # IB
            uib(0, 3, 1, 2.0, 96),  # IB
            uib(3, 0, 1, 4.0, 96),  # ConvNeXt
        ),
        (
            uib(3, 3, 2, 6.0, 128),  # ExtraDW
            uib(5, 5, 1, 4.0, 128),  # ExtraDW
            uib(0, 5, 1, 4.0, 128),  # IB
            uib(0, 5, 1, 3.0, 128),  # IB
            uib(0, 3, 1, 4.0, 128),  # IB
            uib(0, 3, 1, 4.0, 128),  # IB
        ),
        HEAD_960,
    ),
)

CONV_MEDIUM = ModelSpec(
    "conv_medium",
    stem=32,
    stages=(
        (fib(3, 2, 4.0, 48),),
        (uib(3, 5, 2, 4.0, 80), uib(3, 3, 1, 2.0, 80)),
        (
            uib(3, 5, 2, 6.0, 160),  # ExtraDW
            uib(3, 3, 1, 4.0, 160),  # ExtraDW
            uib(3, 3, 1, 4.0, 160),  # ExtraDW
            uib(3, 5, 1, 4.0, 160),  # ExtraDW
            uib(3, 3, 1, 4.0, 160),  # ExtraDW
            uib(3, 0, 1, 4.0, 160),  # ConvNeXt
            uib(0, 0, 1, 2.0, 160),  # FFN
            uib(3, 0, 1, 4.0, 160),  # ConvNeXt
        ),
        (
            uib(5, 5, 2, 6.0, 256),  # ExtraDW
            uib(5, 5, 1, 4.0, 256),  # ExtraDW
            uib(3, 5, 1, 4.0, 256),  # ExtraDW
            uib(3, 5, 1, 4.0, 256),  # ExtraDW
            uib(0, 0, 1, 4.0, 256),  # FFN
            uib(3, 0, 1, 4.0, 256),  # ConvNeXt
            uib(3, 5, 1, 2.0, 256),  # ExtraDW
            uib(5, 5, 1, 4.0, 256),  # ExtraDW
            uib(0, 0, 1, 4.0, 256),  # FFN
            uib(0, 0, 1, 4.0, 256),  # FFN
            uib(5, 0, 1, 2.0, 256),  # ConvNeXt
        ),
        HEAD_960,
    ),
)

CONV_LARGE = ModelSpec(
    "conv_large",
    stem=24,
    stages=(
        (fib(3, 2, 4.0, 48),),
        (uib(3, 5, 2, 4.0, 96), uib(3, 3, 1, 4.0, 96)),
        (
            uib(3, 5, 2, 4.0, 192),  # ExtraDW
            uib(3, 3, 1, 4.0, 192),  # ExtraDW
            uib(3, 3, 1, 4.0, 192),  # ExtraDW
            uib(3, 3, 1, 4.0, 192),  # ExtraDW
            uib(3, 5, 1, 4.0, 192),  # ExtraDW
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            uib(3, 0, 1, 4.0, 192),  # ConvNeXt
        ),
        (
            uib(5, 5, 2, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 3, 1, 4.0, 512),  # ExtraDW
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 3, 1, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
        ),
        HEAD_960,
    ),
)

HYBRID_MEDIUM = ModelSpec(
    "hybrid_medium",
    stem=32,
    layer_scale_init=1e-5,
    stages=(
        (fib(3, 2, 4.0, 48),),
        (uib(3, 5, 2, 4.0, 80), uib(3, 3, 1, 2.0, 80)),
        (
            uib(3, 5, 2, 6.0, 160),  # ExtraDW
            uib(0, 0, 1, 2.0, 160),  # FFN
            uib(3, 3, 1, 4.0, 160),  # ExtraDW
            uib(3, 5, 1, 4.0, 160),  # ExtraDW
            mqa(4, 64, kv_stride=2),  # Mobile MQA
            uib(3, 3, 1, 4.0, 160),  # ExtraDW
            mqa(4, 64, kv_stride=2),  # Mobile MQA
            uib(3, 0, 1, 4.0, 160),  # ConvNeXt
            mqa(4, 64, kv_stride=2),  # Mobile MQA
            uib(3, 3, 1, 4.0, 160),  # ExtraDW
            mqa(4, 64, kv_stride=2),  # Mobile MQA
            uib(3, 0, 1, 4.0, 160),  # ConvNeXt
        ),
        (
            uib(5, 5, 2, 6.0, 256),  # ExtraDW
            uib(5, 5, 1, 4.0, 256),  # ExtraDW
            uib(3, 5, 1, 4.0, 256),  # ExtraDW
            uib(3, 5, 1, 4.0, 256),  # ExtraDW
            uib(0, 0, 1, 2.0, 256),  # FFN
            uib(3, 5, 1, 2.0, 256),  # ExtraDW
            uib(0, 0, 1, 2.0, 256),  # FFN
            uib(0, 0, 1, 4.0, 256),  # FFN
            mqa(4, 64),  # Mobile MQA
            uib(3, 0, 1, 4.0, 256),  # ConvNeXt
            mqa(4, 64),  # Mobile MQA
            uib(5, 5, 1, 4.0, 256),  # ExtraDW
            mqa(4, 64),  # Mobile MQA
            uib(5, 0, 1, 4.0, 256),  # ConvNeXt
            mqa(4, 64),  # Mobile MQA
            uib(5, 0, 1, 4.0, 256),  # ConvNeXt
        ),
        HEAD_960,
    ),
)

HYBRID_LARGE = ModelSpec(
    "hybrid_large",
    stem=24,
    act="gelu",
    layer_scale_init=1e-5,
    stages=(
        (fib(3, 2, 4.0, 48),),
        (uib(3, 5, 2, 4.0, 96), uib(3, 3, 1, 4.0, 96)),
        (
            uib(3, 5, 2, 4.0, 192),  # ExtraDW
            uib(3, 3, 1, 4.0, 192),  # ExtraDW
            uib(3, 3, 1, 4.0, 192),  # ExtraDW
            uib(3, 3, 1, 4.0, 192),  # ExtraDW
            uib(3, 5, 1, 4.0, 192),  # ExtraDW
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            mqa(8, 48, kv_stride=2),  # Mobile MQA
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            mqa(8, 48, kv_stride=2),  # Mobile MQA
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            mqa(8, 48, kv_stride=2),  # Mobile MQA
            uib(5, 3, 1, 4.0, 192),  # ExtraDW
            mqa(8, 48, kv_stride=2),  # Mobile MQA
            uib(3, 0, 1, 4.0, 192),  # ConvNeXt
        ),
        (
            uib(5, 5, 2, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 3, 1, 4.0, 512),  # ExtraDW
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            uib(5, 3, 1, 4.0, 512),  # ExtraDW
            uib(5, 5, 1, 4.0, 512),  # ExtraDW
            mqa(8, 64),  # Mobile MQA
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            mqa(8, 64),  # Mobile MQA
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            mqa(8, 64),  # Mobile MQA
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
            mqa(8, 64),  # Mobile MQA
            uib(5, 0, 1, 4.0, 512),  # ConvNeXt
        ),
        HEAD_960,
    ),
)

# timm's width-multiplier variants (not in the paper): stem and 1280 head stay fixed.
CONV_SMALL_035 = CONV_SMALL.scaled(0.35, "conv_small_035")
CONV_SMALL_050 = CONV_SMALL.scaled(0.50, "conv_small_050")
HYBRID_MEDIUM_075 = HYBRID_MEDIUM.scaled(0.75, "hybrid_medium_075")
HYBRID_LARGE_075 = HYBRID_LARGE.scaled(0.75, "hybrid_large_075")

VARIANTS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        CONV_SMALL,
        CONV_SMALL_035,
        CONV_SMALL_050,
        CONV_MEDIUM,
        CONV_LARGE,
        HYBRID_MEDIUM,
        HYBRID_MEDIUM_075,
        HYBRID_LARGE,
        HYBRID_LARGE_075,
    )
}

# RL-shaped variants: ours, not the paper's or timm's (no pretrained weights), for 84x84 frames.
# At 84x84 the paper's stem and first stage work on 42x42 maps of 32 channels, a large share of a
# training step; a 4x4 stride-4 patchify stem goes straight to the 21x21 grid where nano's stage 1
# begins. Measured in docs/performance.md.
NANO_RL = ModelSpec(
    "nano_rl",
    stem=16,  # the width nano's stage 1 expects
    stem_kernel=4,
    stem_stride=4,
    stages=CONV_SMALL_050.stages[1:],
)

RL_VARIANTS: dict[str, ModelSpec] = {NANO_RL.name: NANO_RL}
