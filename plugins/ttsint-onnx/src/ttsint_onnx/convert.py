"""Converts a network's torch.export program to ONNX, keeping its dynamic axes, into a content-keyed file."""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

from ttsint import AddonError, Network, artifact_digest

__all__ = ["OPSET", "convert", "onnx_path", "dynamic_inputs"]

OPSET = 20
"""The ONNX opset the graphs are written for (part of the cache key)."""


def onnx_path(network: Network, cache_dir: Path) -> Path:
    """Where ``network``'s ONNX file lives: named by the network file's SHA-256, its tensor names and the
    versions of everything that shapes the conversion, so a changed network or toolchain converts anew."""
    # Versions from the installed metadata: importing onnx and onnxscript to ask costs seconds.
    digest = artifact_digest(network.path, kind="onnx", inputs=network.inputs, outputs=network.outputs,
                             opset=OPSET, torch=_version("torch"), onnx=_version("onnx"),
                             onnxscript=_version("onnxscript"))
    return cache_dir / f"{network.path.stem}-onnx-{digest}.onnx"


def convert(network: Network, path: Path) -> None:
    """Write ``network`` as one self-contained ONNX file at ``path``, tensors named as in the addon.

    Dimensions that the torch.export program left symbolic (the length of an utterance or a window)
    stay symbolic, so one graph runs every length.
    """
    import torch

    if network.program is None:
        raise AddonError(f"network {network.name!r} ({network.path.name}) is TorchScript; the onnxruntime "
                         "runtime converts torch.export programs (.pt2): export it with torch.export")
    with _quiet():
        program = torch.onnx.export(network.program, (), dynamo=True, input_names=network.inputs,
                                    output_names=network.outputs, opset_version=OPSET, external_data=False,
                                    optimize=True, verbose=False)
        program.save(str(path), external_data=False)


def dynamic_inputs(path: Path) -> dict[str, list[int | str]]:
    """Each input's shape in an ONNX file: a number for a fixed dimension, a name for a dynamic one."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return {i.name: [d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim]
            for i in model.graph.input}


def _version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version  # when asked, not at every start-up

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "absent"


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """The exporter logs every optional operator library it skips; none of it is the user's concern."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
