"""`nnctl export`: a model file as an ONNX graph that onnxruntime runs to predict's numbers.

One input, `input` [N, n_features] (N dynamic) of the model's dtype, columns in the model's
feature order; standardisation (x − μ) / σ in the graph; per layer a Gemm and the activation;
a classifier's `probabilities` [N, C] (bce: p(classes[0]), p(classes[1])) and `label` [N]
(ArgMax, then a Gather from the class list: int64 when every class is an integer that int64
holds, else strings); a regression's `prediction` [N, n_targets].

Every constant is an initializer of the model's dtype: ONNX float attributes are 32-bit, so a
float64 model would lose precision to one (LeakyRelu's alpha 0.01 is not exact in 32 bits).
Hence leaky_relu as Max(z, 0.01·z), which equals it for a slope below 1; Gemm keeps its default
alpha = beta = 1, exact in any width (and onnxruntime runs it faster than MatMul + Add: 15% in
float64, measured). `onnx` is an optional extra, imported only here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nnctl.data.datasets import is_int64
from nnctl.errors import UsageError
from nnctl.io import jsonio
from nnctl.io.modelfile import ModelFile

DEFAULT_OPSET = 17  # conservative: what onnxruntime releases of the last years all run


def _onnx():
    try:
        import onnx
        from onnx import helper, numpy_helper
    except ImportError:
        raise UsageError("nnctl export needs onnx, an optional extra: pip install 'nnctl[onnx]'") from None
    return onnx, helper, numpy_helper


class _Graph:
    """Nodes and initializers under construction, with fresh names."""

    def __init__(self, dtype):
        self.onnx, self.helper, self.numpy_helper = _onnx()
        self.dtype = np.dtype(dtype)
        self.nodes, self.inits, self.count = [], [], 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def const(self, stem: str, value, cast: bool = True) -> str:
        """An initializer; numbers in the model's dtype unless cast is False (the class list)."""
        arr = np.asarray(value)
        arr = arr.astype(self.dtype) if cast else arr
        name = self.name(stem)
        self.inits.append(self.numpy_helper.from_array(arr, name))
        return name

    def op(self, kind: str, inputs: list[str], stem: str | None = None, output: str | None = None, **attrs) -> str:
        out = output or self.name(stem or kind.lower())
        self.nodes.append(self.helper.make_node(kind, inputs, [out], name=self.name(f"{kind}_node"), **attrs))
        return out


# --- one small builder per activation ---------------------------------------------------------------

def _identity(g: _Graph, z: str) -> str:
    return z


def _sigmoid(g: _Graph, z: str) -> str:
    # 1 / (1 + e^−z), the ops nnctl computes: onnxruntime's fused Sigmoid is a few ulps off, and a
    # bce model's p(classes[0]) = 1 − p magnifies that for p near 1
    one = g.const("one", 1.0)
    return g.op("Div", [one, g.op("Add", [one, g.op("Exp", [g.op("Neg", [z])])])])


def _tanh(g: _Graph, z: str) -> str:
    return g.op("Tanh", [z])


def _relu(g: _Graph, z: str) -> str:
    return g.op("Relu", [z])


def _leaky_relu(g: _Graph, z: str) -> str:
    from nnctl.core.activations import LeakyReLU

    return g.op("Max", [z, g.op("Mul", [z, g.const("slope", LeakyReLU.slope)])])


def _softmax(g: _Graph, z: str) -> str:
    return g.op("Softmax", [z], axis=1)


ACTIVATIONS = {"identity": _identity, "linear": _identity, "sigmoid": _sigmoid, "tanh": _tanh, "relu": _relu,
               "leaky_relu": _leaky_relu, "softmax": _softmax}


def check_exportable(meta: dict, source: str) -> None:
    """UsageError when a layer's activation is a plugin: Python code, which a graph cannot carry.
    Needs only the file's meta, so the command refuses before loading (and running) any plugin."""
    for i, layer in enumerate(meta["layers"]):
        if not isinstance(layer["activation"], str):
            raise UsageError(f"cannot be exported: layer {i} uses the plugin activation "
                             f"{layer['activation']['plugin']!r}, Python code that an ONNX graph cannot carry",
                             source=source)


def build(mf: ModelFile, opset: int = DEFAULT_OPSET):
    """The ONNX ModelProto of a loaded model file. UsageError for what ONNX cannot express."""
    onnx, helper, _ = _onnx()
    latest = onnx.defs.onnx_opset_version()
    if not DEFAULT_OPSET <= opset <= latest:
        raise UsageError(f"--opset: expected {DEFAULT_OPSET} to {latest} (this onnx package's newest), got {opset}")
    check_exportable(mf.meta, mf.path)
    model = mf.model
    g = _Graph(model.dtype)
    elem = helper.np_dtype_to_tensor_dtype(g.dtype)
    x = "input"
    if mf.x_mean is not None:  # (x − μ) / σ, as predict computes it, in the model's dtype
        x = g.op("Div", [g.op("Sub", [x, g.const("x_mean", mf.x_mean)]), g.const("x_std", mf.x_std)], "scaled")
    a = x
    for i, (W, b, layer) in enumerate(zip(model.W, model.b, mf.meta["layers"], strict=True)):
        z = g.op("Gemm", [a, g.const(f"W{i}", W), g.const(f"b{i}", b)], f"z{i}")  # alpha = beta = 1: exact
        a = ACTIVATIONS[layer["activation"]](g, z)
    outputs = []
    classes = mf.classes
    if classes:
        if mf.meta["loss"] == "bce":  # one sigmoid unit: p(classes[1]); columns p(classes[0]), p(classes[1])
            probs = g.op("Concat", [g.op("Sub", [g.const("one", 1.0), a]), a], output="probabilities", axis=1)
        else:
            probs = g.op("Identity", [a], output="probabilities")
        index = g.op("ArgMax", [probs], "index", axis=1, keepdims=0)
        integer = all(is_int64(c) for c in classes)  # else text: a label beyond int64 too
        table = np.array(classes, dtype=np.int64) if integer else np.array([str(c) for c in classes], dtype=object)
        g.op("Gather", [g.const("classes", table, cast=False), index], output="label", axis=0)
        label_type = onnx.TensorProto.INT64 if integer else onnx.TensorProto.STRING
        outputs = [helper.make_tensor_value_info("label", label_type, ["N"]),
                   helper.make_tensor_value_info("probabilities", elem, ["N", len(classes)])]
    else:
        g.op("Identity", [a], output="prediction")
        outputs = [helper.make_tensor_value_info("prediction", elem, ["N", len(mf.targets)])]
    inputs = [helper.make_tensor_value_info("input", elem, ["N", len(mf.features)])]
    graph = helper.make_graph(g.nodes, "nnctl_mlp", inputs, outputs, g.inits)
    opsets = [helper.make_opsetid("", opset)]
    from nnctl import __version__

    proto = helper.make_model(graph, opset_imports=opsets, producer_name="nnctl", producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    helper.set_model_props(proto, {"features": jsonio.dumps(mf.features), "targets": jsonio.dumps(mf.targets),
                                   "classes": jsonio.dumps(classes)})
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export(mf: ModelFile, out: str | Path, opset: int = DEFAULT_OPSET) -> None:
    """Build, check and write the graph (atomically)."""
    from nnctl.io.files import atomic_write

    data = build(mf, opset).SerializeToString()
    atomic_write(out, lambda fh: fh.write(data))


def export_file(path: str | Path, out: str | Path, opset: int = DEFAULT_OPSET) -> dict:
    """`nnctl export`: the model file at `path` as an ONNX file at `out`; returns its meta. A
    plugin activation is refused from the meta alone, before any plugin code could run."""
    from nnctl.io import modelfile

    meta, _ = modelfile.inspect(path)
    check_exportable(meta, str(path))
    export(modelfile.load(path), out, opset)
    return meta
