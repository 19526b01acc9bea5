"""Exact ONNX graph rewrites that let ONNX Runtime's transformer optimizer fuse attention.

ONNX Runtime's BERT/ViT attention fusion (``onnxruntime.transformers.optimizer``, used by
Optimum's ``ORTOptimizer``) matches fixed node patterns. With transformers 4.57 and torch's
ONNX exporter, vision transformers export in shapes it does not match, so no Attention node
is fused and only LayerNorm/Gelu fusions happen (measured on ViT, DINOv2, Depth Anything):

- SDPA attention (the default): ``Softmax(MatMul(Mul(q, sqrt(s)), Mul(k^T, sqrt(s))))`` -- the
  scale is split over q and k; ORT's patterns want one ``Div``/``Mul`` after the MatMul.
- eager attention: ``Cast(Cast(Softmax(Mul(MatMul(q, k^T), s))))`` -- ORT matches a
  maskless ``Softmax(Div(MatMul))`` but not ``Mul``, and the two identity Casts (float to float,
  from ``softmax(dtype=float32).to(query.dtype)``) sit between Softmax and the AV MatMul.
- DINOv2 / Depth Anything layer scale: ``Mul(Add(MatMul(x, W), b), gamma)`` after the attention
  output projection hides the projection from the fusion's anchor.

The rewrites here put those graphs into the shape ORT matches, without changing what they
compute (up to float rounding): both scales become one ``Div`` by ``1 / (s_q * s_k)``; identity
Casts go; ``gamma`` is folded into ``W`` and ``b``. They are applied to an in-memory ModelProto
before fusion; anything that does not match exactly is left alone.
"""

from __future__ import annotations

import collections
import logging

import numpy as np

log = logging.getLogger(__name__)


class _Graph:
    """Index of one onnx GraphProto: producers, consumers and constant values."""

    def __init__(self, model):
        from onnx import numpy_helper

        self.model = model
        self.graph = model.graph
        self.initializers = {t.name: t for t in self.graph.initializer}
        self.constants: dict[str, np.ndarray] = {}
        for name, tensor in self.initializers.items():
            self.constants[name] = numpy_helper.to_array(tensor)
        for node in self.graph.node:
            if node.op_type == "Constant" and len(node.attribute) == 1:
                attr = node.attribute[0]
                if attr.name == "value":
                    self.constants[node.output[0]] = numpy_helper.to_array(attr.t)
                elif attr.name == "value_float":
                    self.constants[node.output[0]] = np.array(attr.f, np.float32)
            elif node.op_type == "Identity" and node.input[0] in self.constants:
                # the exporter ties identical weights (e.g. DINOv2 layer scales all 1.0) with Identity
                self.constants[node.output[0]] = self.constants[node.input[0]]
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.consumers: dict[str, list] = collections.defaultdict(list)
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name].append(node)
        self.graph_outputs = {o.name for o in self.graph.output}

    def scalar(self, name: str) -> float | None:
        value = self.constants.get(name)
        if value is None or value.size != 1 or value.dtype != np.float32:  # FP32 exports only
            return None
        scalar = float(value.reshape(()))
        return scalar if np.isfinite(scalar) and scalar != 0.0 else None

    def only_consumer(self, name: str):
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.graph_outputs:
            return None
        return users[0]

    def replace_uses(self, old: str, new: str) -> None:
        for node in self.consumers.get(old, []):
            for i, name in enumerate(node.input):
                if name == old:
                    node.input[i] = new
        moved = self.consumers.pop(old, [])
        self.consumers[new] = [n for n in self.consumers.get(new, []) if old not in n.output] + moved

    def add_initializer(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        base, k = name, 0
        while name in self.constants or name in self.producer:
            k += 1
            name = f"{base}_{k}"
        self.graph.initializer.append(numpy_helper.from_array(value, name))
        self.constants[name] = value
        return name


def _scalar_operand(g: _Graph, node) -> tuple[float, str] | None:
    """(scale, other input) of a Mul by a constant float scalar."""
    if node is None or node.op_type != "Mul" or len(node.input) != 2:
        return None
    for k in (0, 1):
        scale = g.scalar(node.input[k])
        if scale is not None and g.scalar(node.input[1 - k]) is None:
            return scale, node.input[1 - k]
    return None


def _feeds_softmax(g: _Graph, name: str) -> bool:
    """name -> Softmax, or name -> Add (a mask or position bias) -> Softmax."""
    node = g.only_consumer(name)
    if node is not None and node.op_type == "Add":
        node = g.only_consumer(node.output[0])
    return node is not None and node.op_type == "Softmax"


def canonicalize_attention(model) -> dict[str, int]:
    """Rewrite SDPA- and eager-style attention scores into ``Softmax([Add](Div(MatMul(q, k^T))))``
    and drop identity Casts after Softmax. Modifies `model` in place; returns counts per rewrite."""
    g = _Graph(model)
    counts = {"sdpa_scale": 0, "eager_scale": 0, "identity_cast": 0}
    remove: set[int] = set()
    insert_after: dict[int, object] = {}
    from onnx import helper

    float_types = _float_value_types(model)
    for node in list(g.graph.node):
        if node.op_type == "MatMul" and _feeds_softmax(g, node.output[0]):
            # SDPA: both operands scaled by constant scalars (one of them may be unscaled)
            scaled = [_scalar_operand(g, g.producer.get(name)) for name in node.input]
            producers = [g.producer.get(name) for name in node.input]
            if any(scaled) and all(
                s is None or g.only_consumer(p.output[0]) is node for s, p in zip(scaled, producers)
            ):
                scale = 1.0
                for k, s in enumerate(scaled):
                    if s is not None:
                        scale *= s[0]
                        node.input[k] = s[1]
                        remove.add(id(producers[k]))
                old_out = node.output[0]
                unscaled = old_out + "_unscaled"
                node.output[0] = unscaled
                divisor = g.add_initializer(node.name + "_inv_scale" if node.name else "attn_inv_scale",
                                            np.array(1.0 / scale, np.float32))
                insert_after[id(node)] = helper.make_node("Div", [unscaled, divisor], [old_out],
                                                          name=(node.name or "attn") + "_scale")
                counts["sdpa_scale"] += 1
        elif node.op_type == "Softmax":
            source = g.producer.get(node.input[0])
            scaled = _scalar_operand(g, source)
            if scaled is not None and g.only_consumer(source.output[0]) is node:
                matmul = g.producer.get(scaled[1])
                if matmul is not None and matmul.op_type == "MatMul":
                    divisor = g.add_initializer((source.name or "attn") + "_inv_scale",
                                                np.array(1.0 / scaled[0], np.float32))
                    source.op_type = "Div"
                    del source.input[:]
                    source.input.extend([scaled[1], divisor])
                    counts["eager_scale"] += 1
            # identity Casts (float -> the same float type) right after Softmax
            while True:
                cast = g.only_consumer(node.output[0])
                if cast is None or cast.op_type != "Cast" or id(cast) in remove:
                    break
                to = next((a.i for a in cast.attribute if a.name == "to"), None)
                if to is None or float_types.get(node.output[0]) != to or cast.output[0] in g.graph_outputs:
                    break
                g.replace_uses(cast.output[0], node.output[0])
                remove.add(id(cast))
                counts["identity_cast"] += 1
    _rebuild_nodes(model, remove, insert_after)
    return counts


def fold_layer_scale(model) -> int:
    """Fold ``Mul(Add(MatMul(x, W), b), gamma)`` into ``Add(MatMul(x, W * gamma), b * gamma)`` where W, b
    and gamma are constants and gamma scales the output channels (DINOv2's layer scale). The folded W and
    b are new initializers (the exporter ties equal tensors, so the old ones may be shared; unused ones
    go in remove_unused). Modifies `model` in place; returns the number of folds."""
    g = _Graph(model)
    folded = 0
    remove: set[int] = set()
    for mul in list(g.graph.node):
        if mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        for k in (0, 1):
            gamma = g.constants.get(mul.input[k])
            add = g.producer.get(mul.input[1 - k])
            if gamma is None or add is None or add.op_type != "Add" or gamma.dtype != np.float32:
                continue
            if g.only_consumer(add.output[0]) is not mul:
                continue
            bias_k = next((j for j in (0, 1) if add.input[j] in g.constants), None)
            if bias_k is None:
                continue
            matmul = g.producer.get(add.input[1 - bias_k])
            if matmul is None or matmul.op_type != "MatMul" or matmul.input[1] not in g.constants:
                continue
            if g.only_consumer(matmul.output[0]) is not add:
                continue
            weight, bias = g.constants[matmul.input[1]], g.constants[add.input[bias_k]]
            channels = weight.shape[-1]
            if weight.ndim != 2 or bias.shape != (channels,) or gamma.size not in (1, channels):
                continue
            if gamma.ndim > 1 and any(d != 1 for d in gamma.shape[:-1]):
                continue
            gamma_vec = np.broadcast_to(gamma.reshape(-1), (channels,)).astype(np.float32)
            base = mul.name or "layer_scale"
            matmul.input[1] = g.add_initializer(base + "_folded_weight", (weight * gamma_vec).astype(np.float32))
            add.input[bias_k] = g.add_initializer(base + "_folded_bias", (bias * gamma_vec).astype(np.float32))
            # the Add now produces what the Mul produced
            add.output[0] = mul.output[0]
            remove.add(id(mul))
            folded += 1
            break
    _rebuild_nodes(model, remove, {})
    return folded


def order_attention_layernorms(model) -> int:
    """Where one tensor feeds several LayerNormalizations -- a transformer block's input that is also
    tapped as a feature map (Depth Anything / DPT read hidden states at out_indices through their own
    LayerNorm) -- move the other LayerNorms before the one feeding the block's Q, K and V MatMuls.
    ORT's attention fusion takes the *last* LayerNorm child as the attention input and gives up on the
    block otherwise. Node order only: the graph computes the same. Returns the number of moves."""
    order = list(model.graph.node)
    consumers: dict[str, list] = collections.defaultdict(list)
    for node in order:
        for name in node.input:
            consumers[name].append(node)
    moved = 0
    for node in list(order):
        for out in node.output:
            norms = [c for c in consumers[out] if c.op_type == "LayerNormalization"]
            if len(norms) < 2:
                continue
            feeding_qkv = [c for c in norms if [x.op_type for x in consumers[c.output[0]]].count("MatMul") == 3]
            if len(feeding_qkv) != 1:
                continue
            target = feeding_qkv[0]
            for other in norms:
                if other is target:
                    continue
                position = {id(x): i for i, x in enumerate(order)}
                made_at = {name: position[id(x)] for x in order for name in x.output}
                here = position[id(target)]
                if position[id(other)] > here and all(made_at.get(name, -1) < here for name in other.input):
                    order.pop(position[id(other)])
                    order.insert(here, other)
                    moved += 1
    if moved:
        del model.graph.node[:]
        model.graph.node.extend(order)
    return moved


def remove_unused(model) -> int:
    """Drop Constant and Identity nodes and initializers nothing reads. Returns how many were removed."""
    removed_total = 0
    while True:
        used = {name for node in model.graph.node for name in node.input} | {o.name for o in model.graph.output}
        dead = [n for n in model.graph.node if n.op_type in ("Constant", "Identity") and n.output[0] not in used]
        graph_inputs = {i.name for i in model.graph.input}
        dead_init = [t for t in model.graph.initializer if t.name not in used and t.name not in graph_inputs]
        if not dead and not dead_init:
            return removed_total
        for node in dead:
            model.graph.node.remove(node)
        for tensor in dead_init:
            model.graph.initializer.remove(tensor)
        removed_total += len(dead) + len(dead_init)


def prepare_for_fusion(model) -> dict[str, int]:
    """All rewrites, in order, on an in-memory model: returns what each did."""
    counts = {"layer_scale": fold_layer_scale(model)}
    counts.update(canonicalize_attention(model))
    counts["removed"] = remove_unused(model)
    counts["layernorm_order"] = order_attention_layernorms(model)
    return counts


def count_ops(model) -> dict[str, int]:
    """op_type -> number of nodes in the main graph."""
    return dict(collections.Counter(node.op_type for node in model.graph.node))


def _float_value_types(model) -> dict[str, int]:
    """Element types of Softmax outputs (from shape inference), for telling identity Casts."""
    import onnx

    try:
        inferred = onnx.shape_inference.infer_shapes(model)
    except Exception:  # noqa: BLE001 -- shape inference is best effort; no types means no Cast removal
        return {}
    softmax_outputs = {n.output[0] for n in model.graph.node if n.op_type == "Softmax"}
    return {
        vi.name: vi.type.tensor_type.elem_type
        for vi in inferred.graph.value_info
        if vi.name in softmax_outputs and vi.type.tensor_type.elem_type
    }


def _rebuild_nodes(model, remove: set[int], insert_after: dict[int, object]) -> None:
    if not remove and not insert_after:
        return
    nodes = []
    for node in model.graph.node:
        if id(node) in remove:
            continue
        nodes.append(node)
        if id(node) in insert_after:
            nodes.append(insert_after[id(node)])
    del model.graph.node[:]
    model.graph.node.extend(nodes)
