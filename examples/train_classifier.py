"""Train a MobileNetV4 image classifier, on one CPU/GPU or on many GPUs and machines with torchrun.

Data: an ImageFolder tree (``DIR/train/<class>/<image>`` and ``DIR/val/<class>/<image>``) or
``--data demo``, a built-in dataset of coloured shapes generated on the fly (no download).

Single process (CPU or one GPU)::

    python examples/train_classifier.py --data demo --model conv_small_035 --epochs 5
    python examples/train_classifier.py --data /data/imagenette --model conv_small \\
        --pretrained --epochs 30 --batch-size 128

One machine, N processes (one per GPU; gloo on CPU, nccl on GPU)::

    torchrun --nproc_per_node=4 examples/train_classifier.py --data /data/imagenette

Several machines (run on every node; ``--node_rank`` 0..nnodes-1, same data path everywhere;
only global rank 0 writes logs and checkpoints)::

    torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 --master_addr=10.0.0.1 \\
        --master_port=29500 examples/train_classifier.py --data /data/imagenet
    # or with elastic rendezvous (same command on every node, no node_rank):
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv_backend=c10d --rdzv_endpoint=10.0.0.1:29400 \\
        --rdzv_id=mnv4-job examples/train_classifier.py --data /data/imagenet

``--batch-size`` is per process: the global batch is ``batch_size x world_size``; scale ``--lr``
with it. Outputs (``--output``): ``last.pth`` (full checkpoint, every epoch; ``--resume`` it),
``best.pth`` (weights of the best epoch: ``mnv4_rl.create_model(..., pretrained="best.pth")``),
``summary.csv`` and TensorBoard logs.
"""

from __future__ import annotations

import argparse
import csv
import inspect
import math
import os
import random
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, Subset
from tqdm import tqdm

import mnv4_lab
import mnv4_rl
from mnv4_lab import data as mdata
from mnv4_rl.models import resolve_name
from mnv4_rl.registry import input_stats
from mnv4_rl.weights import IMAGENET_MEAN, IMAGENET_STD


# ------------------------------------------------------------------------------------- arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    # data
    p.add_argument("--data", default="demo", help="'demo' or a folder with train/ and val/")
    p.add_argument("--train-split", default="train", help="train subfolder of --data")
    p.add_argument("--val-split", default="val", help="validation subfolder of --data")
    p.add_argument("--img-size", type=int, default=None, help="default: 64 for demo, else 224")
    p.add_argument("--crop-pct", type=float, default=0.875, help="eval: resize to size/crop_pct")
    p.add_argument("--mean", type=float, nargs="+", default=None, help="default: the model's")
    p.add_argument("--std", type=float, nargs="+", default=None, help="default: the model's")
    p.add_argument("--demo-classes", type=int, default=6, help="demo: number of shape classes")
    p.add_argument("--demo-train-size", type=int, default=4096, help="demo: training images")
    p.add_argument("--demo-val-size", type=int, default=1024, help="demo: validation images")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="loader processes per rank (default: 0 for demo, else min(4, CPUs per rank))",
    )
    # model
    p.add_argument("--model", default="conv_small", help="any name of mnv4_rl.list_models(True)")
    p.add_argument(
        "--pretrained",
        nargs="?",
        const=True,
        default=None,
        help="timm weights: alone = the variant's default hub id; or a hub id / file",
    )
    p.add_argument("--in-channels", type=int, default=3, help="image channels (1, 3 or 4)")
    p.add_argument("--drop", type=float, default=0.0, help="dropout before the classifier")
    p.add_argument("--drop-path", type=float, default=0.0, help="stochastic depth rate")
    p.add_argument(
        "--head-init-scale",
        type=float,
        default=None,
        help="multiply the new classifier's initial weights (0 = start from uniform "
        "predictions; speeds up training from scratch on few classes)",
    )
    # optimisation
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128, help="per process")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (AdamW)")
    p.add_argument("--min-lr", type=float, default=1e-5, help="end of the cosine schedule")
    p.add_argument("--sched", choices=["cosine", "constant"], default="cosine")
    p.add_argument("--warmup-epochs", type=float, default=1.0, help="linear warmup from ~0")
    p.add_argument("--weight-decay", type=float, default=0.05, help="not on biases and norms")
    p.add_argument("--smoothing", type=float, default=0.1, help="label smoothing")
    p.add_argument("--clip-grad", type=float, default=5.0, help="max gradient norm; 0 = off")
    p.add_argument(
        "--amp",
        choices=["auto", "fp32", "bf16", "fp16"],
        default="auto",
        help="auto: bf16 on GPUs that support it (else fp16 + GradScaler), fp32 on CPU",
    )
    p.add_argument("--ema", action="store_true", help="keep an EMA of the weights (used for best)")
    p.add_argument("--ema-decay", type=float, default=0.999)
    # run
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads per process (torch.set_num_threads); default: torch's",
    )
    p.add_argument(
        "--tune-malloc",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mnv4_lab.tune_malloc(): glibc keeps freed memory for reuse (faster CPU training)",
    )
    p.add_argument(
        "--output",
        default=None,
        help="default: runs/classifier/<model>-<time>, or the folder of --resume",
    )
    p.add_argument("--resume", default=None, help="last.pth of an earlier run: continue it")
    p.add_argument(
        "--evaluate-only",
        action="store_true",
        help="evaluate the model (--resume / --pretrained) on the val split and exit",
    )
    p.add_argument("--tensorboard", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="tqdm progress bar"
    )
    p.add_argument(
        "--save-rank-state",
        action="store_true",
        help="debug: every rank saves its final weights to rank<N>.pth (DDP check)",
    )
    return p.parse_args(argv)


def fail(message: str) -> None:
    """Exit with a one-line error (no traceback) and status 2, like argparse."""
    print(f"train_classifier.py: error: {message}", file=sys.stderr)
    raise SystemExit(2)


# ----------------------------------------------------------------------------------- distributed
def setup_distributed(device_arg: str) -> tuple[int, int, torch.device]:
    """Join the torchrun process group if launched by torchrun. Returns (rank, world, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() if device_arg == "auto" else device_arg.startswith("cuda")
    if use_cuda and not torch.cuda.is_available():
        fail("--device cuda was asked for, but CUDA is not available; use --device cpu")
    device = torch.device("cuda", local_rank) if use_cuda else torch.device("cpu")
    if use_cuda:
        torch.cuda.set_device(device)
    if world > 1:
        dist.init_process_group(
            backend="nccl" if use_cuda else "gloo", device_id=device if use_cuda else None
        )
    return (dist.get_rank() if world > 1 else 0), world, device


def average_buffers(module: nn.Module, world: int) -> None:
    """Average BatchNorm running statistics over ranks (each rank saw different batches), so
    every rank evaluates and saves the same model."""
    if world == 1:
        return
    for buffer in module.buffers():
        if buffer.is_floating_point():
            dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
            buffer.div_(world)


# ------------------------------------------------------------------------------------------- data
def build_datasets(args: argparse.Namespace, mean: list[float], std: list[float]):
    """(train, val, classes) for --data demo or an ImageFolder tree, with augmentation."""
    normalize = mdata.Normalize(mean, std)
    if args.data == "demo":
        common = dict(
            image_size=args.img_size,
            num_classes=args.demo_classes,
            channels=args.in_channels,
            seed=args.seed,
        )
        train_tf = mdata.Compose([mdata.RandomShiftFlip(pad=args.img_size // 8), normalize])
        train = mdata.ShapesDataset(
            args.demo_train_size, split="train", transform=train_tf, **common
        )
        val = mdata.ShapesDataset(args.demo_val_size, split="val", transform=normalize, **common)
        return train, val, train.classes
    root = Path(args.data)
    if not root.is_dir():
        raise mdata.DatasetError(
            f"dataset folder {root} does not exist; pass a folder with {args.train_split}/ and "
            f"{args.val_split}/ subfolders in ImageFolder layout, or --data demo"
        )
    mode = mdata.pil_mode(args.in_channels)
    train_tf = mdata.Compose(
        [
            mdata.RandomResizedCrop(args.img_size),
            mdata.RandomHorizontalFlip(),
            mdata.to_tensor,
            normalize,
        ]
    )
    val_tf = mdata.Compose(
        [mdata.ResizeCenterCrop(args.img_size, args.crop_pct), mdata.to_tensor, normalize]
    )
    train = mdata.ImageFolder(root / args.train_split, train_tf, mode)
    val = mdata.ImageFolder(root / args.val_split, val_tf, mode, classes=train.classes)
    return train, val, train.classes


def normalization(args: argparse.Namespace) -> tuple[list[float], list[float]]:
    """--mean/--std, else the pretrained checkpoint's (ImageNet's without one), per channel."""
    try:
        resolve_name(args.model)  # create_model's names (the registry's and "custom")
        stats = input_stats(args.model, args.pretrained) if args.model != "custom" else None
    except ValueError as error:
        fail(str(error))
    mean, std = map(list, stats or (IMAGENET_MEAN, IMAGENET_STD))
    mean, std = args.mean or mean, args.std or std
    if args.mean is None and args.in_channels != 3:  # grey or extra channels: use the RGB average
        mean, std = [sum(mean) / 3] * args.in_channels, [sum(std) / 3] * args.in_channels
    if len(mean) != args.in_channels or len(std) != args.in_channels:
        fail(
            f"--mean and --std need {args.in_channels} values (--in-channels), got "
            f"{len(mean)} and {len(std)}"
        )
    return mean, std


# --------------------------------------------------------------------------- schedule, EMA, AMP
class WarmupCosine:
    """Learning rate per optimizer step: linear warmup to ``lr``, then cosine down to ``min_lr``
    (or constant). A pure function of the step, so resuming needs only the step count."""

    def __init__(self, optimizer, lr, min_lr, warmup_steps, total_steps, kind="cosine") -> None:
        self.optimizer, self.lr, self.min_lr, self.kind = optimizer, lr, min_lr, kind
        self.warmup_steps, self.total_steps, self.step_count = warmup_steps, total_steps, 0

    def lr_at(self, step: int) -> float:
        if step < self.warmup_steps:
            return self.lr * (step + 1) / (self.warmup_steps + 1)
        if self.kind == "constant":
            return self.lr
        progress = (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))

    def step(self) -> float:
        """Set the learning rate for the next optimizer step and return it."""
        lr = self.lr_at(self.step_count)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.step_count += 1
        return lr

    def state_dict(self) -> dict:
        return {"step_count": self.step_count}

    def load_state_dict(self, state: dict) -> None:
        self.step_count = state["step_count"]


class ModelEma:
    """Exponential moving average of all float weights and buffers, with timm's warmup: the decay
    is ``min(decay, (1 + n) / (10 + n))`` after n updates, so early averages are not stale."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        import copy

        self.module = copy.deepcopy(model).eval().requires_grad_(False)
        self.decay, self.updates = decay, 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema, live in zip(
            self.module.state_dict().values(), model.state_dict().values(), strict=True
        ):
            if ema.is_floating_point():
                ema.lerp_(live, 1.0 - decay)
            else:
                ema.copy_(live)

    def state_dict(self) -> dict:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = state["updates"]


def amp_dtype(amp: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for --amp on ``device`` (None = full fp32)."""
    if amp == "auto":
        if device.type != "cuda":
            return None  # most CPUs run fp32 faster than emulated bf16
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if amp == "fp16" and device.type != "cuda":
        fail("--amp fp16 needs a CUDA GPU (fp16 with a gradient scaler); use --amp bf16 on CPU")
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[amp]


# ------------------------------------------------------------------------------ train / evaluate
@torch.no_grad()
def evaluate(model, loader, device, autocast, world: int, desc: str, progress: bool) -> dict:
    """Loss, top-1 and top-5 over the whole split. Each rank sums its shard; the sums (not the
    per-rank averages) are all-reduced, so the result is exact for any shard sizes."""
    model.eval()
    sums = torch.zeros(4, dtype=torch.float64, device=device)  # loss, top1, top5, count
    for images, labels in tqdm(loader, desc=desc, leave=False, disable=not progress):
        images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
        with autocast():
            logits = model(images).float()
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices.eq(labels[:, None])
        sums[0] += F.cross_entropy(logits, labels, reduction="sum")
        sums[1] += top[:, 0].sum()
        sums[2] += top.any(dim=1).sum()
        sums[3] += len(labels)
    if world > 1:
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
    loss, top1, top5, count = sums.tolist()
    count = max(count, 1.0)
    return {
        "loss": loss / count,
        "top1": 100 * top1 / count,
        "top5": 100 * top5 / count,
        "samples": int(count),
    }


def rng_state() -> dict:
    np_state = np.random.get_state()
    return {
        "torch": torch.get_rng_state(),
        "python": random.getstate(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    name, keys, *rest = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# ----------------------------------------------------------------------------------- the steps
def build_loaders(args, rank: int, world: int, device: torch.device, log):
    """Datasets and loaders: every rank takes a disjoint, epoch-seeded shuffle of the training
    set (padded to equal length) and an unpadded strided shard of the validation set, so every
    validation image counts exactly once."""
    mean, std = normalization(args)
    try:
        train_set, val_set, classes = build_datasets(args, mean, std)
    except mdata.DatasetError as error:
        fail(str(error))
    train_sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=args.seed)
    val_shard = Subset(val_set, range(rank, len(val_set), world)) if world > 1 else val_set
    workers = args.workers
    if workers is None:
        workers = 0 if args.data == "demo" else min(4, max(1, (os.cpu_count() or 1) // world))
    loader_kw = dict(
        num_workers=workers, pin_memory=device.type == "cuda", persistent_workers=workers > 0
    )
    train_loader = DataLoader(
        train_set, args.batch_size, sampler=train_sampler, drop_last=True, **loader_kw
    )
    val_loader = DataLoader(val_shard, args.batch_size, shuffle=False, **loader_kw)
    if len(train_loader) == 0 and not args.evaluate_only:
        fail(
            f"{len(train_set)} training images over {world} process(es) do not fill one batch of "
            f"{args.batch_size}; lower --batch-size or add images"
        )
    log(
        f"data: {args.data}, {len(classes)} classes, {len(train_set)} train / {len(val_set)} val "
        f"images at {args.img_size}px; {world} process(es) on {device}"
    )
    return train_loader, train_sampler, val_loader, classes, mean, std


def build_model(args, classes: list[str], device: torch.device, log) -> nn.Module:
    """The network, with pretrained weights and a scaled classifier init when asked."""
    try:
        model = mnv4_rl.create_model(
            args.model,
            in_channels=args.in_channels,
            num_classes=len(classes),
            pretrained=args.pretrained,
            drop_rate=args.drop,
            drop_path_rate=args.drop_path,
        )
    except (ValueError, mnv4_rl.WeightsNotFoundError) as error:
        fail(str(error))
    if args.pretrained:
        log(f"pretrained: {model.pretrained_summary}")
    if args.head_init_scale is not None:
        with torch.no_grad():
            model.get_classifier().weight.mul_(args.head_init_scale)
            model.get_classifier().bias.mul_(args.head_init_scale)
    model.to(device)
    log(f"model: {args.model}, {mnv4_rl.count_params(model) / 1e6:.2f} M parameters")
    return model


def build_optimizer(args, model: nn.Module, steps_per_epoch: int):
    """AdamW with no weight decay on biases and norm weights (1-D tensors), and its schedule."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim <= 1]
    optimizer = torch.optim.AdamW(
        [
            {"params": decay, "weight_decay": args.weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ],
        lr=args.lr,
    )
    schedule = WarmupCosine(
        optimizer,
        args.lr,
        args.min_lr,
        round(args.warmup_epochs * steps_per_epoch),
        args.epochs * steps_per_epoch,
        args.sched,
    )
    return optimizer, schedule


def read_resume_checkpoint(args, classes: list[str]) -> dict:
    """``--resume``'s ``last.pth``, checked against this run; every problem is one clear line."""
    path = Path(args.resume)
    if not path.is_file():
        fail(f"--resume {path}: no such file; pass the last.pth of an earlier run")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated, foreign or pickled-object files
        fail(
            f"--resume {path}: cannot read it ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:160]}); pass the last.pth of an earlier run"
        )
    if not isinstance(checkpoint, dict) or "optimizer" not in checkpoint:
        hint = (
            "it is a best.pth (weights only): continue from the run's last.pth, or use its "
            "weights with --pretrained"
            if isinstance(checkpoint, dict) and "state_dict" in checkpoint
            else "it is not a last.pth written by this script"
        )
        fail(f"--resume {path}: {hint}")
    saved = checkpoint.get("args", {})
    for option in ("model", "in_channels"):
        if saved.get(option) != getattr(args, option):
            flag = "--" + option.replace("_", "-")
            fail(
                f"--resume {path} was trained with {flag} {saved.get(option)}, this run has "
                f"{flag} {getattr(args, option)}; pass the same {flag}"
            )
    if checkpoint.get("classes") != classes:
        fail(
            f"--resume {path} was trained on classes {checkpoint.get('classes')}, "
            f"the data has {classes}"
        )
    return checkpoint


def run_folder(args, world: int) -> Path:
    """``--output``, else the resumed run's folder, else a new timestamped one (rank 0's)."""
    output = Path(
        args.output
        or (
            Path(args.resume).parent
            if args.resume
            else Path("runs/classifier") / f"{args.model}-{time.strftime('%Y%m%d-%H%M%S')}"
        )
    )
    if world > 1:  # one folder for all ranks (rank 0's timestamp)
        shared = [str(output)]
        dist.broadcast_object_list(shared, src=0)
        output = Path(shared[0])
    return output


CSV_FIELDS = [
    "epoch",
    "lr",
    "train_loss",
    "val_loss",
    "val_top1",
    "val_top5",
    "val_samples",
    "ema_top1",
    "ema_top5",
    "epoch_time",
]


class RunLogs:
    """``summary.csv`` (appended to on resume) and TensorBoard, written by rank 0 only."""

    def __init__(self, args, output: Path, enabled: bool, log) -> None:
        self.csv_file = self.writer = None
        if not enabled:
            return
        output.mkdir(parents=True, exist_ok=True)
        csv_path = output / "summary.csv"
        new_csv = not (args.resume and csv_path.exists())
        self.csv_file = open(csv_path, "w" if new_csv else "a", newline="")  # noqa: SIM115
        self.csv_writer = csv.DictWriter(self.csv_file, CSV_FIELDS)
        if new_csv:
            self.csv_writer.writeheader()
        if args.tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(output / "tensorboard"))
        log(f"output: {output}")

    def write(self, row: dict) -> None:
        if self.csv_file is None:
            return
        self.csv_writer.writerow(row)
        self.csv_file.flush()
        if self.writer:
            for key, value in row.items():
                if key != "epoch" and value != "":
                    self.writer.add_scalar(key, value, row["epoch"] + 1)
            self.writer.flush()

    def close(self) -> None:
        if self.csv_file is not None:
            self.csv_file.close()
        if self.writer:
            self.writer.close()


def train_one_epoch(args, epoch, model_ddp, model, loader, optimizer, schedule, scaler, ema,
                    autocast, device, progress) -> tuple[float, float]:  # fmt: skip
    """One pass over this rank's shard; returns (summed loss, last learning rate)."""
    criterion = nn.CrossEntropyLoss(label_smoothing=args.smoothing)
    model_ddp.train()
    loss_sum = torch.zeros((), dtype=torch.float64, device=device)
    lr = args.lr
    bar = tqdm(loader, desc=f"epoch {epoch + 1}/{args.epochs}", disable=not progress)
    for images, labels in bar:
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        lr = schedule.step()
        with autocast():
            loss = criterion(model_ddp(images).float(), labels)
        if not torch.isfinite(loss):
            fail(f"loss is {loss.item()} at epoch {epoch + 1}; lower --lr or use --amp fp32")
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if args.clip_grad > 0:
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), args.clip_grad)
        scaler.step(optimizer)
        scaler.update()
        if ema:
            ema.update(model)
        loss_sum += loss.detach()
        bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.2e}", refresh=False)
    return loss_sum, lr


def save_checkpoints(output: Path, state: dict, best: dict | None) -> None:
    """``last.pth`` (written atomically: never a half-written file) and, when better, ``best.pth``."""
    torch.save(state, output / "last.tmp")
    os.replace(output / "last.tmp", output / "last.pth")
    if best is not None:
        torch.save(best, output / "best.pth")


# ------------------------------------------------------------------------------------------ main
def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    rank, world, device = setup_distributed(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    is_main = rank == 0
    log = print if is_main else (lambda *a, **k: None)
    progress = args.progress and is_main
    if args.tune_malloc and mnv4_lab.tune_malloc():
        log("malloc: tuned (freed memory kept for reuse; --no-tune-malloc for glibc's default)")

    # Seeds: each rank draws different augmentations; DDP copies rank 0's initial weights.
    random.seed(args.seed + rank)
    np.random.seed(args.seed + rank)
    torch.manual_seed(args.seed + rank)
    if args.img_size is None:
        args.img_size = 64 if args.data == "demo" else 224

    train_loader, train_sampler, val_loader, classes, mean, std = build_loaders(
        args, rank, world, device, log
    )
    checkpoint = read_resume_checkpoint(args, classes) if args.resume else None
    model = build_model(args, classes, device, log)
    steps_per_epoch = len(train_loader)
    optimizer, schedule = build_optimizer(args, model, steps_per_epoch)
    dtype = amp_dtype(args.amp, device)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)

    def autocast():
        return torch.autocast(device.type, dtype=dtype) if dtype else nullcontext()

    # Resume: every rank loads the same checkpoint (on a shared filesystem for multi-node).
    start_epoch, best_top1 = 0, -1.0
    if checkpoint:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        schedule.load_state_dict(checkpoint["scheduler"])
        scaler.load_state_dict(checkpoint["scaler"])
        start_epoch, best_top1 = checkpoint["epoch"], checkpoint["best_top1"]
        log(
            f"resumed from {args.resume}: {start_epoch} of {args.epochs} epochs done, "
            f"best top-1 {best_top1:.2f}%"
        )
    # Buffers (BatchNorm statistics) stay per rank during an epoch and are averaged after it.
    no_buffer_sync = (
        {"forward_sync_buffers": False}
        if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        else {"broadcast_buffers": False}
    )
    model_ddp = (
        DistributedDataParallel(
            model, device_ids=[device] if device.type == "cuda" else None, **no_buffer_sync
        )
        if world > 1
        else model
    )
    ema = ModelEma(model, args.ema_decay) if args.ema else None  # after DDP: rank 0's weights
    if ema and checkpoint and checkpoint.get("ema"):
        ema.load_state_dict(checkpoint["ema"])
    if checkpoint:
        rng = checkpoint["rng"]
        if len(rng) == world:
            set_rng_state(rng[rank])
        else:
            log(
                f"warning: checkpoint was written by {len(rng)} processes, now {world}: "
                f"random streams are re-seeded, not restored"
            )
    output = run_folder(args, world)

    if args.evaluate_only:
        if not (args.resume or args.pretrained):
            log(
                "warning: --evaluate-only without --resume or --pretrained evaluates random weights"
            )
        for name, net in [("model", model)] + ([("ema", ema.module)] if ema else []):
            metrics = evaluate(net, val_loader, device, autocast, world, "eval", progress)
            log(
                f"evaluate {name}: loss {metrics['loss']:.4f}  top-1 {metrics['top1']:.2f}%  "
                f"top-5 {metrics['top5']:.2f}%  ({metrics['samples']} images)"
            )
        if world > 1:
            dist.destroy_process_group()
        return metrics

    logs = RunLogs(args, output, is_main, log)
    metrics: dict = {}
    for epoch in range(start_epoch, args.epochs):
        start = time.perf_counter()
        train_sampler.set_epoch(epoch)
        loss_sum, lr = train_one_epoch(
            args, epoch, model_ddp, model, train_loader, optimizer, schedule, scaler, ema,
            autocast, device, progress,
        )  # fmt: skip
        average_buffers(model, world)
        if ema:
            average_buffers(ema.module, world)
        if world > 1:
            dist.all_reduce(loss_sum, op=dist.ReduceOp.SUM)
        train_loss = loss_sum.item() / (steps_per_epoch * world)

        metrics = evaluate(model, val_loader, device, autocast, world, "val", progress)
        ema_metrics = (
            evaluate(ema.module, val_loader, device, autocast, world, "val ema", progress)
            if ema
            else {}
        )
        score = (ema_metrics or metrics)["top1"]  # with EMA, the EMA weights are the product
        is_best = score > best_top1
        best_top1 = max(best_top1, score)
        rngs = [None] * world
        if world > 1:
            dist.all_gather_object(rngs, rng_state())
        else:
            rngs = [rng_state()]
        row = {
            "epoch": epoch,
            "lr": lr,
            "train_loss": train_loss,
            "val_loss": metrics["loss"],
            "val_top1": metrics["top1"],
            "val_top5": metrics["top5"],
            "val_samples": metrics["samples"],
            "ema_top1": ema_metrics.get("top1", ""),
            "ema_top5": ema_metrics.get("top5", ""),
            "epoch_time": time.perf_counter() - start,
        }
        log(
            f"epoch {epoch + 1}/{args.epochs}  train loss {train_loss:.4f}  val loss "
            f"{metrics['loss']:.4f}  top-1 {metrics['top1']:.2f}%  top-5 {metrics['top5']:.2f}%"
            + (f"  ema top-1 {ema_metrics['top1']:.2f}%" if ema else "")
            + f"  ({row['epoch_time']:.1f} s)"
        )
        if is_main:
            logs.write(row)
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": schedule.state_dict(),
                "scaler": scaler.state_dict(),
                "ema": ema.state_dict() if ema else None,
                "epoch": epoch + 1,
                "best_top1": best_top1,
                "rng": rngs,
                "classes": classes,
                "args": vars(args),
            }
            best = None
            if is_best:
                best = {
                    "state_dict": (ema.module if ema else model).state_dict(),
                    "model": args.model,
                    "in_channels": args.in_channels,
                    "classes": classes,
                    "mean": mean,
                    "std": std,
                    "img_size": args.img_size,
                    "epoch": epoch + 1,
                    "top1": score,
                }
            save_checkpoints(output, state, best)

    if args.save_rank_state:
        output.mkdir(parents=True, exist_ok=True)
        torch.save(
            {"model": model.state_dict(), "ema": ema.state_dict() if ema else None},
            output / f"rank{rank}.pth",
        )
    if is_main:
        log(f"best top-1 {best_top1:.2f}%; checkpoints in {output}")
    logs.close()
    if world > 1:
        dist.destroy_process_group()
    return metrics


if __name__ == "__main__":
    main()
