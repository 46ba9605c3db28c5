"""The graph of a functional model: symbolic tensors, the nodes (layer calls) that make them, and their order.

``x = Input(shape=(784,))`` is a symbolic tensor: a shape with ``None`` for the batch, and no values.
Calling a layer on symbolic tensors (``Dense(10)(x)``) runs no math: it records a ``Node`` (the layer and
the tensors it was called on) and returns the node's output, another symbolic tensor. ``Model(inputs,
outputs)`` walks back from the outputs to the inputs and puts the nodes in topological order once; its
forward runs them in that order and its backward in the reverse one.
"""
from __future__ import annotations

from ..layers.base import Layer, shape_str

Shape = tuple


def none_shape(shape) -> str:
    """(None, 16): a shape as Keras prints it, the batch axis as None."""
    return shape_str(shape).replace("N", "None", 1)


class SymbolicTensor:
    """A placeholder for the arrays that will flow along one edge of the graph (Keras's KerasTensor).

    shape  the full shape, ``None`` for the batch axis: ``(None, 28, 28, 1)``.
    dtype  the dtype of an ``Input`` (None: the model's), or of the first input of the node that made it.
    node   the ``Node`` (layer call) that produced it; an ``Input``'s node has no layer.
    """

    is_symbolic = True               # what Layer.__call__ looks for to record a call instead of computing
    __array_ufunc__ = None           # numpy's operators defer to ours (array + tensor is not a silent cast)

    def __init__(self, shape: Shape, dtype, node: Node):
        self.shape = (None, *(int(d) for d in shape))
        self.dtype = dtype
        self.node = node

    @property
    def name(self) -> str:
        """The input's name, or the producing layer's name (with ``[k]`` for its call k > 0 in a model)."""
        return self.node.name

    def describe(self) -> str:
        return f"Input '{self.node.name}'" if self.node.layer is None else self.node.layer.describe()

    def __add__(self, other):
        from ..layers.merge import Add
        return Add()([self, _symbolic_operand(other, "+")])

    def __sub__(self, other):
        from ..layers.merge import Subtract
        return Subtract()([self, _symbolic_operand(other, "-")])

    def __mul__(self, other):
        from ..layers.merge import Multiply
        return Multiply()([self, _symbolic_operand(other, "*")])

    def __radd__(self, other):
        return _symbolic_operand(other, "+")

    __rsub__ = __rmul__ = __radd__

    def __repr__(self) -> str:
        return f"<SymbolicTensor shape={self.shape} from {self.describe()}>"


def _symbolic_operand(other, op):
    if not isinstance(other, SymbolicTensor):
        raise TypeError(f"symbolic tensor {op} {type(other).__name__}: both sides must be symbolic tensors "
                        "(outputs of Input or of a layer call)")
    return other


class Node:
    """One call of a layer: ``layer(inputs)`` -> ``output`` (an ``Input`` is a node without a layer).

    ``multiple`` says that the layer was called on a list (a merge layer: forward gets a list of arrays,
    backward returns a list of gradients).
    """

    def __init__(self, layer: Layer | None, inputs: tuple, multiple: bool, name: str):
        self.layer = layer
        self.inputs = inputs
        self.multiple = multiple
        self.name = name
        self.output: SymbolicTensor | None = None


def Input(shape, name: str | None = None, dtype=None) -> SymbolicTensor:
    """A symbolic input of samples of ``shape`` (the batch axis excluded), where a functional model starts.

    >>> x = Input(shape=(28, 28, 1), name="image")
    >>> x.shape, x.name
    ((None, 28, 28, 1), 'image')
    """
    from .. import backend
    from ..layers.base import unique_name
    if isinstance(shape, int):
        shape = (shape,)
    if isinstance(shape, str):
        raise TypeError(f"Input: shape must be a tuple of ints (the batch axis excluded), got {shape!r}")
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"Input: shape must be a tuple of ints (the batch axis excluded), got {shape!r}") from None
    if any(d < 1 for d in shape):
        raise ValueError(f"Input: shape must hold positive sizes (the batch axis excluded), got {shape}")
    name = unique_name("input") if name is None else name
    if not isinstance(name, str) or not name:
        raise ValueError(f"Input: name must be a non-empty string, got {name!r}")
    node = Node(None, (), False, name)
    node.output = SymbolicTensor(shape, None if dtype is None else backend.as_dtype(dtype), node)
    return node.output


def is_symbolic(x) -> bool:
    """Whether x is a symbolic tensor, or a list / tuple holding one."""
    if isinstance(x, (list, tuple)):
        return any(getattr(t, "is_symbolic", False) for t in x)
    return getattr(x, "is_symbolic", False)


def call_layer(layer: Layer, inputs) -> SymbolicTensor:
    """Record ``layer(inputs)`` on symbolic tensors: check the shapes, return the output tensor.

    Nothing is built here: ``Model`` builds the layers, in order, from its own seed.
    """
    multiple = isinstance(inputs, (list, tuple))
    tensors = tuple(inputs) if multiple else (inputs,)
    for i, t in enumerate(tensors):
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"{layer.describe()} was called on a list mixing symbolic tensors and "
                            f"{type(t).__name__} (item {i}): call a layer on symbolic tensors or on arrays")
    takes_several = getattr(layer, "multiple_inputs", False)
    if multiple and not (takes_several or getattr(layer, "cross_inputs", False)):
        raise TypeError(f"{layer.describe()} takes one input, got a list of {len(tensors)}: merge them first "
                        "(layers.Concatenate, layers.Add, ...)")
    if takes_several and not multiple:
        raise TypeError(f"{layer.describe()} takes a list of inputs, got one tensor from {tensors[0].describe()}")
    shapes = [t.shape[1:] for t in tensors]
    input_shape = shapes if multiple else shapes[0]
    try:
        if layer.built:
            if layer.input_shape != input_shape:
                raise ValueError(f"{layer.describe()} was built for inputs {_shapes(layer.input_shape)} and "
                                 f"is called on {_shapes(input_shape)}")
            output_shape = layer.output_shape
        else:
            output_shape = tuple(layer.compute_output_shape(input_shape))
    except ValueError as error:
        sources = " and ".join(t.describe() for t in tensors)
        raise ValueError(f"{error} (called on the outputs of {sources})") from None
    node = Node(layer, tensors, multiple, layer.name)
    node.output = SymbolicTensor(output_shape, tensors[0].dtype, node)
    return node.output


def _shapes(shape) -> str:
    if isinstance(shape, list):
        return "[" + ", ".join(none_shape(s) for s in shape) + "]"
    return none_shape(shape)


def topological_nodes(outputs: list[SymbolicTensor]) -> list[Node]:
    """Every node the outputs depend on, each after the nodes of its inputs (inputs' nodes included).

    Depth first from each output in order, so the order is the same at every build. A cycle (which only a
    graph edited by hand can have) is an error naming its layers.
    """
    order: list[Node] = []
    state: dict[int, int] = {}                         # id(node) -> 1 visiting, 2 done
    for output in outputs:
        stack = [(output.node, iter(output.node.inputs))]
        state.setdefault(id(output.node), 1)
        if state[id(output.node)] == 2:
            continue
        path = [output.node]
        while stack:
            node, pending = stack[-1]
            child = next(pending, None)
            if child is None:
                stack.pop()
                path.pop()
                state[id(node)] = 2
                order.append(node)
                continue
            seen = state.get(id(child.node))
            if seen == 2:
                continue
            if seen == 1:
                loop = path[path.index(child.node):] + [child.node]
                raise ValueError("the graph has a cycle: " + " -> ".join(_node_label(n) for n in loop))
            state[id(child.node)] = 1
            stack.append((child.node, iter(child.node.inputs)))
            path.append(child.node)
    return order


def _node_label(node: Node) -> str:
    return f"Input '{node.name}'" if node.layer is None else node.layer.describe()


__all__ = ["Input", "SymbolicTensor", "Node", "is_symbolic", "call_layer", "topological_nodes", "none_shape"]
