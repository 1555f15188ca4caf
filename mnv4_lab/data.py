"""Datasets and transforms for the classifier training script (``examples/train_classifier.py``).

- :class:`ShapesDataset`: an offline demo dataset of coloured geometric shapes on noisy
  backgrounds, generated on the fly and deterministic per (seed, split, index); no download.
- :class:`ImageFolder`: the usual ``root/<class_name>/<image>`` layout, read with PIL.
- Small PIL/torch transforms (random resized crop, flip, resize + centre crop, normalise), so the
  script needs neither torchvision nor a download.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")
SHAPES = ("circle", "square", "triangle", "plus", "ring", "diamond", "hbar", "vbar")
_SPLITS = {"train": 0, "val": 1, "test": 2}


class DatasetError(ValueError):
    """A dataset folder or demo configuration that cannot be used; the message says how to fix it."""


# ---------------------------------------------------------------------------------- demo shapes
def _shape_mask(name: str, dx: Tensor, dy: Tensor) -> Tensor:
    """Boolean mask of ``name`` in coordinates scaled so the shape spans about [-1, 1]."""
    dist = (dx**2 + dy**2).sqrt()
    if name == "circle":
        return dist <= 1.0
    if name == "square":
        return torch.maximum(dx.abs(), dy.abs()) <= 0.8
    if name == "triangle":  # pointing up: apex at dy=-0.9, base at dy=0.8
        return (dy >= -0.9) & (dy <= 0.8) & (dx.abs() <= (dy + 0.9) * 0.6)
    if name == "plus":
        arm = 0.3
        return ((dx.abs() <= arm) & (dy.abs() <= 1.0)) | ((dy.abs() <= arm) & (dx.abs() <= 1.0))
    if name == "ring":
        return (dist <= 1.0) & (dist >= 0.6)
    if name == "diamond":
        return dx.abs() + dy.abs() <= 1.0
    if name == "hbar":
        return (dx.abs() <= 1.0) & (dy.abs() <= 0.3)
    if name == "vbar":
        return (dx.abs() <= 0.3) & (dy.abs() <= 1.0)
    raise ValueError(f"unknown shape {name!r}; known: {', '.join(SHAPES)}")


class ShapesDataset(Dataset):
    """Coloured geometric shapes with random size, position, colours and noise.

    Sample ``i`` of a split is a pure function of ``(seed, split, i)``: the same on every run, every
    process and every DataLoader worker; ``"train"`` and ``"val"`` hold different images. Labels
    are balanced (``i % num_classes``). Images are float tensors in [0, 1] before ``transform``.

    Args:
        num_samples: length of the dataset.
        image_size: height and width in pixels.
        num_classes: how many of :data:`SHAPES` to use (2 to 8).
        channels: image channels (colours are drawn per channel; 3 gives RGB).
        split: ``"train"``, ``"val"`` or ``"test"``.
        seed: dataset seed.
        transform: applied to the image tensor (augmentation, normalisation).
    """

    def __init__(
        self,
        num_samples: int,
        image_size: int = 64,
        num_classes: int = 6,
        channels: int = 3,
        split: str = "train",
        seed: int = 0,
        transform: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        if not 2 <= num_classes <= len(SHAPES):
            raise DatasetError(
                f"the demo dataset has 2 to {len(SHAPES)} classes, got {num_classes}"
            )
        if num_samples < 1:
            raise DatasetError(f"the demo dataset needs at least 1 sample, got {num_samples}")
        if image_size < 16:
            raise DatasetError(f"demo images must be at least 16 px, got {image_size}")
        if split not in _SPLITS:
            raise DatasetError(f"split must be one of {', '.join(_SPLITS)}, got {split!r}")
        self.num_samples = num_samples
        self.image_size = image_size
        self.classes = list(SHAPES[:num_classes])
        self.channels = channels
        self.split = split
        self.seed = seed
        self.transform = transform
        # Pixel-centre coordinates, shared by every sample.
        axis = torch.arange(image_size, dtype=torch.float32) + 0.5
        self._yy, self._xx = torch.meshgrid(axis, axis, indexing="ij")

    def __len__(self) -> int:
        return self.num_samples

    def render(self, index: int) -> tuple[Tensor, int]:
        """The raw image (C, H, W) in [0, 1] and the label of sample ``index``."""
        if not 0 <= index < self.num_samples:
            raise IndexError(f"index {index} out of range for {self.num_samples} samples")
        label = index % len(self.classes)
        g = torch.Generator().manual_seed(
            (self.seed * 1_000_003 + _SPLITS[self.split]) * 10_000_019 + index
        )

        def uniform(low: float, high: float, *shape: int) -> Tensor:
            return low + (high - low) * torch.rand(shape or (1,), generator=g)

        size = self.image_size
        radius = float(uniform(0.22, 0.42)) * size
        margin = radius + 1.0
        cx, cy = (float(uniform(margin, size - margin)) for _ in range(2))
        mask = _shape_mask(self.classes[label], (self._xx - cx) / radius, (self._yy - cy) / radius)
        # Bright shapes on dark backgrounds, random colours: the shape is the only cue.
        background = uniform(0.0, 0.45, self.channels)
        foreground = uniform(0.55, 1.0, self.channels)
        image = torch.where(mask, foreground[:, None, None], background[:, None, None])
        noise = float(uniform(0.02, 0.12))
        image = image + noise * torch.randn(image.shape, generator=g)
        return image.clamp_(0.0, 1.0), label

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        image, label = self.render(index)
        if self.transform is not None:
            image = self.transform(image)
        return image, label


class RandomShiftFlip:
    """Light augmentation for tensors: horizontal flip (p=0.5) and a random shift of up to ``pad``
    pixels (edge-replicated), so the image keeps its size."""

    def __init__(self, pad: int = 4) -> None:
        self.pad = pad

    def __call__(self, image: Tensor) -> Tensor:
        if torch.rand(()) < 0.5:
            image = image.flip(-1)
        if self.pad <= 0:
            return image
        height, width = image.shape[-2:]
        padded = torch.nn.functional.pad(image[None], [self.pad] * 4, mode="replicate")[0]
        top, left = (int(v) for v in torch.randint(0, 2 * self.pad + 1, (2,)))
        return padded[:, top : top + height, left : left + width]


# -------------------------------------------------------------------------------- image folder
def pil_mode(in_channels: int) -> str:
    """The PIL mode that gives ``in_channels`` channels (1: ``L``, 3: ``RGB``, 4: ``RGBA``)."""
    modes = {1: "L", 3: "RGB", 4: "RGBA"}
    if in_channels not in modes:
        raise DatasetError(
            f"image files can be read with 1, 3 or 4 channels (L, RGB, RGBA), got in_channels="
            f"{in_channels}; use --in-channels 1, 3 or 4 with an image folder"
        )
    return modes[in_channels]


class ImageFolder(Dataset):
    """Images in ``root/<class_name>/<any/sub/folders>/<image>``; classes sorted by name.

    Args:
        root: the split folder (e.g. ``data/train``).
        transform: applied to the PIL image (augmentation, conversion to a tensor).
        mode: PIL mode each image is converted to (see :func:`pil_mode`).
        classes: expected class names (e.g. those of the train split); a mismatch is an error.

    Raises:
        DatasetError: missing folder, no class folders, a class folder without images, or class
            names that differ from ``classes``.
    """

    def __init__(
        self,
        root: str | Path,
        transform: Callable | None = None,
        mode: str = "RGB",
        classes: Sequence[str] | None = None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(
                f"dataset folder {self.root} does not exist; expected the ImageFolder layout "
                f"{self.root}/<class_name>/<image files>"
            )
        found = sorted(d.name for d in self.root.iterdir() if d.is_dir() and d.name[0] != ".")
        if not found:
            raise DatasetError(
                f"{self.root} has no class folders; expected {self.root}/<class_name>/<image files>"
            )
        if classes is not None and list(classes) != found:
            missing = sorted(set(classes) - set(found))
            extra = sorted(set(found) - set(classes))
            raise DatasetError(
                f"class folders of {self.root} differ from the training classes: missing {missing}, "
                f"extra {extra}; both splits need the same class folders"
            )
        self.classes = found
        self.samples: list[tuple[Path, int]] = []
        for label, name in enumerate(found):
            files = sorted(
                p
                for p in (self.root / name).rglob("*")
                if p.suffix.lower() in IMG_EXTENSIONS and p.is_file()
            )
            if not files:
                raise DatasetError(
                    f"class folder {self.root / name} holds no images (looked for "
                    f"{', '.join(IMG_EXTENSIONS)}); add images or remove the folder"
                )
            self.samples += [(path, label) for path in files]
        self.transform = transform
        self.mode = mode

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        from PIL import Image

        path, label = self.samples[index]
        with Image.open(path) as image:
            image = image.convert(self.mode)
        if self.transform is not None:
            image = self.transform(image)
        return image, label


def save_image_folder(dataset: ShapesDataset, root: str | Path) -> Path:
    """Write ``dataset`` as PNG files in ImageFolder layout (``root/<class>/<index>.png``)."""
    from PIL import Image

    root = Path(root)
    for index in range(len(dataset)):
        image, label = dataset.render(index)
        folder = root / dataset.classes[label]
        folder.mkdir(parents=True, exist_ok=True)
        array = (image.permute(1, 2, 0) * 255).round().to(torch.uint8).numpy()
        Image.fromarray(array.squeeze(-1) if array.shape[-1] == 1 else array).save(
            folder / f"{index:06d}.png"
        )
    return root


# ------------------------------------------------------------------------------ PIL transforms
class Compose:
    """Apply transforms in order."""

    def __init__(self, transforms: Sequence[Callable]) -> None:
        self.transforms = list(transforms)

    def __call__(self, x):
        for transform in self.transforms:
            x = transform(x)
        return x


class RandomResizedCrop:
    """Crop a random area (``scale`` of the image) with a random aspect ratio (log-uniform in
    ``ratio``), resized to ``size`` x ``size``; Inception-style, as torchvision's transform."""

    def __init__(self, size: int, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> None:
        self.size, self.scale, self.ratio = size, scale, ratio

    def box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """A random (left, top, crop width, crop height); a centre crop if 10 tries fail."""
        area = width * height
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * float(torch.empty(1).uniform_(*self.scale))
            aspect = math.exp(float(torch.empty(1).uniform_(*log_ratio)))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                left = int(torch.randint(0, width - w + 1, ()))
                top = int(torch.randint(0, height - h + 1, ()))
                return left, top, w, h
        # Fallback: the largest centre crop with the aspect ratio clamped into ``ratio``.
        aspect = min(max(width / height, self.ratio[0]), self.ratio[1])
        w, h = (
            (width, round(width / aspect))
            if width / height < aspect
            else (round(height * aspect), height)
        )
        w, h = min(w, width), min(h, height)
        return (width - w) // 2, (height - h) // 2, w, h

    def __call__(self, image):
        from PIL import Image

        left, top, w, h = self.box(*image.size)
        return image.resize(
            (self.size, self.size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h)
        )


class RandomHorizontalFlip:
    """Mirror a PIL image left-right with probability ``p``."""

    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, image):
        from PIL import Image

        return (
            image.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if torch.rand(()) < self.p else image
        )


class ResizeCenterCrop:
    """Resize the shorter side to ``size / crop_pct``, then take the central ``size`` x ``size``."""

    def __init__(self, size: int, crop_pct: float = 0.875) -> None:
        self.size, self.crop_pct = size, crop_pct

    def __call__(self, image):
        from PIL import Image

        width, height = image.size
        short = math.floor(self.size / self.crop_pct)
        scale = short / min(width, height)
        width, height = max(self.size, round(width * scale)), max(self.size, round(height * scale))
        image = image.resize((width, height), Image.Resampling.BILINEAR)
        left, top = (width - self.size) // 2, (height - self.size) // 2
        return image.crop((left, top, left + self.size, top + self.size))


def to_tensor(image) -> Tensor:
    """PIL image (H, W[, C]) uint8 -> float tensor (C, H, W) in [0, 1]."""
    array = np.asarray(image, dtype=np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div_(255.0)


class Normalize:
    """``(x - mean) / std`` per channel, on a (C, H, W) tensor."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32)[:, None, None]
        self.std = torch.tensor(std, dtype=torch.float32)[:, None, None]

    def __call__(self, x: Tensor) -> Tensor:
        return (x - self.mean) / self.std
