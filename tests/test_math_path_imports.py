"""No module on the math path imports NumPy: the array module always comes from the arrays (DESIGN.md).

The math path is what runs on a model's device for every batch, so a NumPy call there breaks the GPU:

- MODULES import no NumPy at all: every layer family (src/scratchnn/layers/, the tape in layers/base.py
  included), the losses, the optimizers, the regularizers, backend/special.py (the stable sigmoid, softmax,
  erf), and the model structure the forward and backward walk (models/graph.py, plan.py, outputs.py,
  device.py). What they need of the host (dtypes, ``integer_types``, ``errstate``, build-time ``host``
  arrays, ``floatx``, ``make_rng``) comes from ``scratchnn.backend``.
- In the layer families, ``backend.host`` (NumPy, for configs, build-time constants and ``adapt``) is not
  named inside a forward or backward function.
- FUNCTIONS in modules that also handle host data name no ``np``: the trainer's step (trainer.py: the loss,
  the gradients, the optimizer step) and the models' forward, backward and input placement (sequential.py,
  functional.py). The rest of those modules reads the user's arrays on the host (validation, shuffling,
  batching), before the data moves to the device once per batch.

Left out, on purpose: metrics/ (they add up on the host: the trainer hands them each batch's predictions
with one ``to_numpy``), initializers.py (weights are drawn on the host at build, then moved), saving/ (files
hold host copies), backend/kernels_cpu.py (the NumPy kernels, called only when the module is NumPy).
tests/test_device.py runs whole trainings through a namespace that fails on any NumPy call at run time;
this test catches the imports before anything runs.
"""
import ast
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1] / "src" / "scratchnn"

MODULES = sorted([*(SOURCE / "layers").glob("*.py"), *(SOURCE / "losses").glob("*.py"),
                  *(SOURCE / "optim").glob("*.py"), SOURCE / "regularizers.py", SOURCE / "backend" / "special.py",
                  *(SOURCE / "models" / name for name in ("graph.py", "plan.py", "outputs.py", "device.py"))])

FUNCTIONS = {
    "models/trainer.py": ["_inference_loss", "_forward_backward", "compute_gradients", "apply_gradients",
                          "train_step", "_output"],
    "models/sequential.py": ["forward", "backward", "_as_input", "_fused_output"],
    "models/functional.py": ["forward", "backward", "_as_input"],
}


def relative(path: Path) -> str:
    return path.relative_to(SOURCE).as_posix()


def numpy_imports(tree: ast.AST) -> list[int]:
    """Lines of ``import numpy``, ``import numpy.x``, ``from numpy import ...`` anywhere in the module."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "numpy" for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "numpy":
            lines.append(node.lineno)
    return lines


def names_used(function: ast.AST, names: set[str]) -> list[tuple[int, str]]:
    return [(node.lineno, node.id) for node in ast.walk(function) if isinstance(node, ast.Name) and node.id in names]


def functions(tree: ast.AST):
    return [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]


def test_the_module_lists_name_real_files():
    assert len(MODULES) > 30 and all(path.is_file() for path in MODULES)
    for name in FUNCTIONS:
        assert (SOURCE / name).is_file(), name


@pytest.mark.parametrize("path", MODULES, ids=relative)
def test_no_numpy_import_on_the_math_path(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    found = numpy_imports(tree)
    assert not found, (f"src/scratchnn/{relative(path)} imports NumPy on line(s) {found}: take the array module "
                       "from backend.namespace(x), and host-side values from scratchnn.backend")
    if relative(path).startswith("layers/"):
        for function in functions(tree):
            if "forward" in function.name or "backward" in function.name:
                used = names_used(function, {"host"})
                assert not used, (f"src/scratchnn/{relative(path)}:{used[0][0]}: {function.name} uses backend.host "
                                  "(NumPy) on the math path: use namespace(x)")


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_no_numpy_in_the_step_and_the_models_forward(name):
    path = SOURCE / name
    tree = ast.parse(path.read_text(), filename=str(path))
    defined = {function.name: function for function in functions(tree)}
    for wanted in FUNCTIONS[name]:
        assert wanted in defined, f"src/scratchnn/{name} has no function {wanted} any more: update this list"
        used = names_used(defined[wanted], {"np", "numpy"})
        assert not used, (f"src/scratchnn/{name}:{used[0][0]}: {wanted} names NumPy ({used[0][1]}) on the math "
                          "path: use the model's device (self.device) or backend.namespace(x)")


def test_the_check_finds_a_numpy_import(tmp_path):
    """The checks fail on what they are for (a module and a function written to break them)."""
    tree = ast.parse("import math\nfrom numpy import einsum\n\ndef forward(x):\n    return np.sum(x)\n")
    assert numpy_imports(tree) == [2]
    assert names_used(functions(tree)[0], {"np"}) == [(5, "np")]
    assert numpy_imports(ast.parse("import numpy.linalg as la\n")) == [1]
    assert numpy_imports(ast.parse("from .numpy_helpers import x\n")) == []
