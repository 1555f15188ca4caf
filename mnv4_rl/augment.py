"""Image augmentations for pixel RL, applied inside the encoder in training mode only.

``make_augmentation("shift", pad=4)`` is DrQ's random shift (Kostrikov et al. 2020; RAD, Laskin et
al. 2020, calls it random translate/crop): pad each image by ``pad`` pixels repeating its edge
pixels, then crop it back to its own size at a random integer offset in ``[-pad, pad]`` on each
axis. The module sits in the network right after :class:`~mnv4_rl.frames.FrameInput`, so it sees
``(B, C, H, W)`` in every observation layout; all ``C`` channels of a sample (a stack of frames is
one image) share that sample's shift, and every sample draws its own.

Like ``nn.Dropout`` it acts only while ``module.training`` is True: SB3's ``train()`` switches the
policy to training mode, its rollouts, ``predict`` and evaluation run in eval mode, and exported
programs are built in eval mode, so none of those is augmented. Frameworks that never toggle the
mode (RLlib's learners) call :func:`random_shift` directly in their training forward pass.

Framework-free: torch only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import nn

if TYPE_CHECKING:
    from .frames import FrameLayout

__all__ = [
    "AUGMENTATIONS",
    "DEFAULT_PAD",
    "Augmentation",
    "RandomShift",
    "check_pad",
    "make_augmentation",
    "random_shift",
    "set_augmentation_mode",
    "strip_augmentations",
]

#: DrQ's pad for 84x84 frames.
DEFAULT_PAD = 4


def check_pad(pad: object, height: int | None = None, width: int | None = None) -> int:
    """Validate ``pad``: a non-negative int, smaller than the frame when its size is known.

    Args:
        pad: the shift range in pixels.
        height: the frame height, or ``None`` when not known yet.
        width: the frame width, or ``None``.

    Returns:
        ``pad`` as an ``int``.

    Raises:
        ValueError: ``pad`` is not a non-negative integer, or not smaller than the frame.
    """
    if isinstance(pad, bool) or not isinstance(pad, int) or pad < 0:
        raise ValueError(
            f"pad must be a non-negative integer number of pixels (DrQ uses 4 at 84x84), "
            f"got {pad!r}"
        )
    sizes = [s for s in (height, width) if s is not None]
    if sizes and pad >= min(sizes):
        raise ValueError(
            f"pad={pad} must be smaller than the frame ({height}x{width}): a shift of "
            f"{pad} pixels would leave nothing of it; use e.g. pad={max(min(sizes) // 21, 1)}"
        )
    return pad


def random_shift(x: torch.Tensor, pad: int = DEFAULT_PAD) -> torch.Tensor:
    """Shift every image of a batch by its own random integer offset, replicating edge pixels.

    Equivalent to replicate-padding ``x`` by ``pad`` and cropping each sample back to ``H x W`` at
    a random corner in ``[0, 2 * pad]``: output pixel ``(i, j)`` of sample ``b`` is input pixel
    ``(clamp(i + dy_b), clamp(j + dx_b))``. One gather over the whole batch, no padded copy and no
    Python loop over samples; any dtype (``uint8`` or float), any device. The offsets are drawn
    from torch's global generator on ``x``'s device, so ``torch.manual_seed`` fixes them.

    Args:
        x: ``(B, C, H, W)`` images; the ``C`` channels of a sample share its shift.
        pad: the largest shift in pixels; 0 returns ``x`` unchanged.

    Returns:
        A new ``(B, C, H, W)`` tensor of ``x``'s dtype and device (``x`` itself when ``pad=0`` or
        the batch is empty).

    Raises:
        ValueError: ``x`` is not 4-D, or ``pad`` is not smaller than its frames.
    """
    if x.dim() != 4:
        raise ValueError(
            f"random_shift takes (batch, channels, height, width) images, got shape "
            f"{tuple(x.shape)}; apply it after mnv4_rl.frames.FrameInput"
        )
    batch, channels, height, width = x.shape
    check_pad(pad, height, width)
    if pad == 0 or batch == 0:
        return x
    # Two offsets per sample in [-pad, pad] (DrQ's crop corner in [0, 2 * pad], minus pad).
    offsets = torch.randint(-pad, pad + 1, (batch, 2), device=x.device)
    rows = (torch.arange(height, device=x.device) + offsets[:, :1]).clamp_(0, height - 1)
    cols = (torch.arange(width, device=x.device) + offsets[:, 1:]).clamp_(0, width - 1)
    # Clamping the source index is replicate padding; one flat index per output pixel.
    index = (rows.unsqueeze(2) * width + cols.unsqueeze(1)).view(batch, 1, height * width)
    flat = x.reshape(batch, channels, height * width)
    out = flat.gather(2, index.expand(batch, channels, height * width))
    return out.view(batch, channels, height, width)


class Augmentation(nn.Module):
    """Base class of the augmentation modules: what :func:`set_augmentation_mode` switches.

    An augmentation transforms ``(B, C, H, W)`` network inputs while ``self.training`` is True
    and returns them unchanged otherwise; it holds nothing in the state dict, so checkpoints are
    the same with and without it.
    """


def set_augmentation_mode(module: nn.Module, mode: bool) -> int:
    """Switch every :class:`Augmentation` inside ``module`` on (``True``) or off, nothing else.

    Target networks are kept in eval mode by SB3 (their BatchNorm/Dropout must not train), yet
    DrQ augments the next observations the target sees: this turns on the target's augmentation
    alone (see :mod:`mnv4_rl.sb3.augmented`).

    Args:
        module: any module tree.
        mode: ``True`` to augment, ``False`` to pass inputs through.

    Returns:
        The number of augmentation modules switched.
    """
    found = [m for m in module.modules() if isinstance(m, Augmentation)]
    for augmentation in found:
        augmentation.train(mode)
    return len(found)


def strip_augmentations(module: nn.Module) -> int:
    """Replace every :class:`Augmentation` inside ``module`` with ``nn.Identity``, in place.

    For exported and inference-only programs: they must never augment, whatever mode someone
    later puts them in. The state dict does not change (augmentations hold nothing in it).

    Args:
        module: any module tree (changed in place).

    Returns:
        The number of augmentation modules replaced.
    """
    replaced = 0
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, Augmentation):
                setattr(parent, name, nn.Identity())
                replaced += 1
    return replaced


class RandomShift(Augmentation):
    """DrQ's random shift (:func:`random_shift`) in training mode, the identity in eval mode.

    Args:
        pad: the largest shift in pixels (DrQ: 4 at 84x84); a non-negative int.

    Raises:
        ValueError: ``pad`` is not a non-negative int.
    """

    def __init__(self, pad: int = DEFAULT_PAD) -> None:
        super().__init__()
        self.pad = check_pad(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Like Dropout: rollouts, predict, evaluation and export run in eval mode, unaugmented.
        if not self.training:
            return x
        return random_shift(x, self.pad)

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


def _shift(pad: int) -> nn.Module:
    return RandomShift(pad)


#: Augmentation name -> factory ``(pad) -> nn.Module``; the first is the default.
AUGMENTATIONS: dict[str, Callable[[int], nn.Module]] = {"shift": _shift}


def make_augmentation(
    name: str | None, pad: int = DEFAULT_PAD, frames: FrameLayout | None = None
) -> nn.Module:
    """The augmentation module ``name`` for frames of ``frames``' size.

    Args:
        name: a key of :data:`AUGMENTATIONS` (``"shift"``), or ``None`` (also ``"none"``) for
            no augmentation.
        pad: the largest shift in pixels: a non-negative int smaller than the frame.
        frames: the observation's layout (:func:`mnv4_rl.frames.resolve_layout`), to check
            ``pad`` against the frame size; ``None`` skips that check until the first batch.

    Returns:
        ``nn.Identity()`` for ``None``, else the augmentation module (active in training mode
        only).

    Raises:
        ValueError: an unknown name (the message lists the known ones), or a bad ``pad``.
    """
    height = width = None
    if frames is not None:
        height, width = frames.height, frames.width
    if name is None or name == "none":
        return nn.Identity()
    if name not in AUGMENTATIONS:
        known = ", ".join(repr(n) for n in AUGMENTATIONS)
        raise ValueError(f"unknown augmentation {name!r}; known: {known} (or None for none)")
    check_pad(pad, height, width)
    return AUGMENTATIONS[name](pad)
