"""scratchnn export: a model file as ONNX, checked against onnxruntime before the file is written."""
from __future__ import annotations

import argparse
import io

import numpy as np

from .._optional import require
from ..saving.files import atomic_file
from .common import CommandError, check_folder, positive_int
from .model import open_model

NAME = "export"
HELP = "write a model as ONNX, checked with onnxruntime when installed"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL")
    parser.add_argument("out", metavar="OUT.onnx")
    parser.add_argument("--opset", type=positive_int, default=17)


def run(args: argparse.Namespace) -> int:
    """Export into memory, verify, then write the file atomically: a mismatch writes nothing."""
    from ..saving import export_onnx
    model = open_model(args.model)
    check_folder(args.out)
    serialized = io.BytesIO()
    try:
        export_onnx(model, serialized, opset=args.opset)
    except ImportError as error:
        raise CommandError(str(error)) from None
    report = verify_onnx(model, serialized.getvalue())
    with atomic_file(args.out) as stream:
        stream.write(serialized.getvalue())
    print(f"ONNX model written to {args.out} (opset {args.opset}, input {(None, *model.input_shape)})")
    print(report)
    return 0


def verify_onnx(model, serialized: bytes, samples: int = 8) -> str:
    """Run the exported model with onnxruntime on random inputs; a mismatch fails the export."""
    try:
        onnxruntime = require("onnxruntime", "checking the export")
    except ImportError as error:
        return f"not verified: {error}"
    x = np.random.default_rng(0).random((samples, *model.input_shape)).astype(model.dtype)
    session = onnxruntime.InferenceSession(serialized, providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    expected = model.predict(x)
    difference = float(np.max(np.abs(got - expected)))
    tolerance = 1e-4 if model.dtype == np.float32 else 1e-10
    if not np.allclose(got, expected, rtol=tolerance, atol=tolerance):
        raise CommandError(f"the ONNX model disagrees with the scratchnn model: max |difference| "
                           f"{difference:.3g} on {samples} random inputs; nothing written")
    return (f"verified with onnxruntime {onnxruntime.__version__}: max |difference| {difference:.3g} "
            f"on {samples} random inputs")
