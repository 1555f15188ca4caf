"""The file formats, one entry each in :data:`FORMATS`: the suffix that picks it, the writer, and
the runner that checks a written file gives the outputs of the program it came from."""

from __future__ import annotations

import copy
import json
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._extras import require
from ..models.mobilenetv4 import MobileNetV4
from .onnx_norms import with_onnx_group_norms

__all__ = ["FORMATS", "Format", "check_file", "format_for", "read_metadata", "write"]

BATCH_LIMIT = 4096  # largest batch a .pt2 / .pte program accepts (torch.export needs a bound)


@dataclass(frozen=True)
class Format:
    """One export format.

    Attributes:
        suffix: the file suffix that picks it (``".onnx"``).
        description: what it is, for messages and ``--help``.
        write: ``write(program, example, path, output_names)`` writes the file.
        run: ``run(path, observations)`` runs the written file with its own runtime and returns
            its outputs as numpy arrays (the check after writing).
        tag: ``tag(path, metadata)`` adds string metadata to the written file, and
            ``tag(path, None)`` reads it back; ``None`` where the format keeps none.
    """

    suffix: str
    description: str
    write: Callable[[nn.Module, torch.Tensor, Path, list[str]], None]
    run: Callable[[Path, torch.Tensor], list[np.ndarray]]
    tag: Callable[[Path, dict[str, str] | None], dict[str, str]] | None = None


def _numpy(outputs: tuple[torch.Tensor, ...] | list[torch.Tensor]) -> list[np.ndarray]:
    return [o.detach().numpy() for o in outputs]


def _write_onnx(program: nn.Module, example: torch.Tensor, path: Path, outputs: list[str]) -> None:
    require("onnx", "export", ".onnx export")
    axes = {name: {0: "batch"} for name in ["obs", *outputs]}
    torch.onnx.export(
        with_onnx_group_norms(program),  # the GroupNorms in ONNX Runtime's faster form
        (example,),
        str(path),
        dynamo=False,  # the TorchScript-based exporter: no onnxscript needed, batch axis dynamic
        opset_version=17,
        input_names=["obs"],
        output_names=outputs,
        dynamic_axes=axes,
        do_constant_folding=True,
    )


def _run_onnx(path: Path, obs: torch.Tensor) -> list[np.ndarray]:
    require("onnxruntime", "export", "checking an .onnx file")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"obs": obs.numpy()})


def _tag_onnx(path: Path, metadata: dict[str, str] | None) -> dict[str, str]:
    import onnx

    model = onnx.load(str(path))
    if metadata is not None:
        for key, value in metadata.items():
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(path))
    return {prop.key: prop.value for prop in model.metadata_props}


def _zip_tag(path: Path, metadata: dict[str, str] | None) -> dict[str, str]:
    """TorchScript and ``torch.export`` files are zip archives: metadata goes in as an entry."""
    name = "extra/mnv4_rl_metadata.json"
    if metadata is not None:
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr(f"{archive.namelist()[0].split('/')[0]}/{name}", json.dumps(metadata))
    with zipfile.ZipFile(path) as archive:
        found = [n for n in archive.namelist() if n.endswith(name)]
        return json.loads(archive.read(found[0])) if found else {}


def _write_torchscript(
    program: nn.Module, example: torch.Tensor, path: Path, outputs: list[str]
) -> None:
    with torch.no_grad():
        traced = torch.jit.trace(program, (example,), check_trace=False)
    torch.jit.save(torch.jit.freeze(traced), str(path))


def _run_torchscript(path: Path, obs: torch.Tensor) -> list[np.ndarray]:
    return _numpy(torch.jit.load(str(path))(obs))


def _exported(program: nn.Module, example: torch.Tensor) -> torch.export.ExportedProgram:
    # An example batch of 16: smaller ones let XNNPACK's lowering narrow the batch range (a
    # fake-tensor conv check guards on batch < 16), so the .pte would refuse batches above 15.
    example = example.new_zeros((16, *example.shape[1:]))
    batch = torch.export.Dim("batch", min=1, max=BATCH_LIMIT)
    with torch.no_grad():
        return torch.export.export(program, (example,), dynamic_shapes=({0: batch},))


def _write_pt2(program: nn.Module, example: torch.Tensor, path: Path, outputs: list[str]) -> None:
    torch.export.save(_exported(program, example), str(path))


def _run_pt2(path: Path, obs: torch.Tensor) -> list[np.ndarray]:
    return _numpy(torch.export.load(str(path)).module()(obs))


def _write_pte(program: nn.Module, example: torch.Tensor, path: Path, outputs: list[str]) -> None:
    require("executorch", "executorch", ".pte export (ExecuTorch)")
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower

    # XNNPACK's lowering takes NCHW-contiguous weights (it lays them out itself); the models
    # keep theirs channels-last for PyTorch's CPU convolutions.
    program = copy.deepcopy(program).to(memory_format=torch.contiguous_format)
    for module in program.modules():
        if isinstance(module, MobileNetV4):
            module.channels_last = False

    lowered = to_edge_transform_and_lower(
        _exported(program, example), partitioner=[XnnpackPartitioner()]
    )
    path.write_bytes(lowered.to_executorch().buffer)


def _run_pte(path: Path, obs: torch.Tensor) -> list[np.ndarray]:
    require("executorch", "executorch", "checking a .pte file (ExecuTorch)")
    from executorch.runtime import Runtime

    method = Runtime.get().load_program(str(path)).load_method("forward")
    # ExecuTorch reads an input's memory as contiguous, whatever its strides: a transposed
    # view (a channel-last frame stack seen channel-first) would be read scrambled.
    return _numpy(method.execute([obs.contiguous()]))


#: suffix -> :class:`Format`. A new format is one entry here.
FORMATS: dict[str, Format] = {
    f.suffix: f
    for f in (
        Format(".onnx", "ONNX, opset 17", _write_onnx, _run_onnx, _tag_onnx),
        Format(
            ".pt", "TorchScript, traced and frozen", _write_torchscript, _run_torchscript, _zip_tag
        ),
        Format(".pt2", "torch.export", _write_pt2, _run_pt2, _zip_tag),
        Format(".pte", "ExecuTorch with XNNPACK", _write_pte, _run_pte),
    )
}


def format_for(path: Path) -> Format:
    """The format that ``path``'s suffix picks.

    Raises:
        ValueError: the suffix is not one of :data:`FORMATS`.
    """
    found = FORMATS.get(path.suffix)
    if found is None:
        raise ValueError(
            f"unknown export format {path.suffix!r} ({path}); the suffix picks it: "
            f"{', '.join(FORMATS)}"
        )
    return found


def write(
    program: nn.Module,
    example: torch.Tensor,
    path: Path,
    outputs: list[str],
    metadata: dict[str, str] | None = None,
) -> None:
    """Write ``program`` to ``path`` in the format of its suffix (:data:`FORMATS`).

    Args:
        program: the module to export (eval mode).
        example: an example input batch.
        path: the file to write; its folder is created.
        outputs: the names of the program's outputs.
        metadata: strings to keep in the file where the format has room for them (ONNX
            ``metadata_props``; an entry of TorchScript's and ``torch.export``'s archives); read
            them back with :func:`read_metadata`.

    Raises:
        ValueError: an unknown suffix.
        ImportError: the format's package is missing (names the extra to install).
    """
    fmt = format_for(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # The model's input checks are Python conditions the tracer records as constants; the
        # exported program keeps the shapes it was traced with (the batch axis stays dynamic).
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        fmt.write(program, example, path, outputs)
    if metadata and fmt.tag is not None:
        fmt.tag(path, metadata)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata :func:`write` kept in an exported file (``{}`` for formats without room)."""
    path = Path(path)
    fmt = format_for(path)
    return fmt.tag(path, None) if fmt.tag is not None else {}


def check_file(path: Path, program: nn.Module, observations: torch.Tensor) -> float:
    """Run the written file and ``program`` on ``observations``.

    Args:
        path: a file written by :func:`write`.
        program: the module it was written from.
        observations: a batch of inputs.

    Returns:
        The largest relative difference of the non-action outputs.

    Raises:
        RuntimeError: the discrete actions differ, or another output differs by more than 1e-4
            (relative to its largest magnitude).
    """
    with torch.no_grad():
        expected = [o.numpy() for o in program(observations)]
    got = format_for(path).run(path, observations)
    discrete = not np.issubdtype(expected[0].dtype, np.floating)
    if discrete and not np.array_equal(got[0], expected[0]):
        raise RuntimeError(f"{path}: the exported actions differ from the policy's")
    worst = 0.0
    pairs = zip(got[int(discrete) :], expected[int(discrete) :], strict=True)
    for a, b in pairs:
        worst = max(worst, float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12)))
    if worst > 1e-4:
        raise RuntimeError(f"{path}: outputs differ from the policy's by {worst:.2e} (relative)")
    return worst
