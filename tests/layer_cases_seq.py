"""The harness cases of the non-recurrent sequence layers (issue 18): Conv1D, the 1-D poolings, LayerNormalization,
MultiHeadAttention and PositionEmbedding. tests/layer_cases.py adds them to its CASES.

Our sequences are channels-last (N, steps, channels); PyTorch's nn.Conv1d and pooling are (N, channels, steps):
the builders permute inside the graph and turn Conv1D's kernel (k, C_in, F) into nn.Conv1d's weight (F, C_in, k).
MultiHeadAttention's kernels (features, heads, key_dim) join heads and key_dim into nn.MultiheadAttention's
in_proj_weight rows (heads * key_dim == embed_dim), and its output kernel (heads, value_dim, F) into out_proj.
"""
from __future__ import annotations

import numpy as np

from scratchnn import initializers, layers

from harness import Case
from layer_cases import as_numpy, away_from_kinks, leaf, ties

CASES: list[Case] = []
BIASES = initializers.RandomNormal(stddev=0.5)          # MultiHeadAttention's four biases away from zero
NO_GRADCHECK_AT_TIES = {"gradients": "tied maxima: max is not differentiable there (the tie rule is what "
                                     "the torch check compares)"}


def add(id, make, shape, **options):
    CASES.append(Case(id, make, tuple(shape), **options))


def ncw(t):
    return t.permute(0, 2, 1)


# ---- PyTorch builders ------------------------------------------------------------------------------------
def torch_conv1d(layer, torch, training):
    F = torch.nn.functional
    kernel = leaf(torch, layer.params["kernel"].transpose(2, 1, 0))            # (F, C_in, k)
    params = {"kernel": (kernel, lambda g: g.numpy().transpose(2, 1, 0))}
    bias = None
    if layer.use_bias:
        bias = leaf(torch, layer.params["bias"])
        params["bias"] = (bias, as_numpy)
    from layer_cases import torch_activation              # (imported here: layer_cases imports this file)
    activation = torch_activation(layer.activation, torch)

    def fn(t):
        y = F.conv1d(F.pad(ncw(t), layer.pads), kernel, bias, stride=layer.strides, dilation=layer.dilation_rate)
        return activation(ncw(y))
    return fn, params


def torch_max_pool1d(layer, torch, training):
    F = torch.nn.functional
    return (lambda t: ncw(F.max_pool1d(F.pad(ncw(t), layer.pads, value=-np.inf), layer.pool_size,
                                       layer.strides))), {}


def torch_average_pool1d(layer, torch, training):
    F = torch.nn.functional

    def pool(u):
        return F.avg_pool1d(F.pad(u, layer.pads), layer.pool_size, layer.strides)

    def fn(t):
        u = ncw(t)
        return ncw(pool(u) / pool(torch.ones_like(u)))      # the mean over the window's input steps only
    return fn, {}


def torch_global_average1d(layer, torch, training):
    return (lambda t: t.mean(dim=1, keepdim=layer.keepdims)), {}


def torch_global_max1d(layer, torch, training):
    F = torch.nn.functional

    def fn(t):
        y = F.adaptive_max_pool1d(ncw(t), 1)                # (N, C, 1): the first maximum gets the gradient
        return ncw(y) if layer.keepdims else y.flatten(1)
    return fn, {}


def torch_layer_norm(layer, torch, training):
    """nn.LayerNorm over the layer's axes moved to the end (in their order), gamma and beta as its weight and bias."""
    rank = len(layer.input_shape) + 1
    order = [a for a in range(rank) if a not in layer.axes] + list(layer.axes)
    back = list(np.argsort(order))
    shape = tuple(layer.input_shape[a - 1] for a in layer.axes)
    norm = torch.nn.LayerNorm(shape, eps=layer.epsilon, elementwise_affine=layer.scale or layer.center,
                              bias=layer.center, dtype=torch.float64)
    params = {}
    with torch.no_grad():
        if layer.scale:
            norm.weight.copy_(torch.tensor(layer.params["gamma"]))
            params["gamma"] = (norm.weight, as_numpy)
        elif layer.center:
            norm.weight.requires_grad_(False)               # beta alone: the weight stays at its ones
        if layer.center:
            norm.bias.copy_(torch.tensor(layer.params["beta"]))
            params["beta"] = (norm.bias, as_numpy)
    return (lambda t: norm(t.permute(order)).permute(back)), params


def causal_disallowed(torch, steps, key_steps):
    """nn.MultiheadAttention's boolean attn_mask: True where query t may NOT attend to key s (s > t)."""
    return torch.ones(steps, key_steps, dtype=torch.bool).triu(1)


def torch_mha(layer, torch, training):
    """Self-attention through nn.MultiheadAttention (embed_dim = heads * key_dim = value_dim * heads = features)."""
    heads, key_dim = layer.num_heads, layer.key_dim
    steps, features = layer.input_shape
    embed = heads * key_dim
    assert embed == features == heads * layer.value_dim == layer.output_shape[1], "nn.MultiheadAttention's shapes"
    mha = torch.nn.MultiheadAttention(embed, heads, bias=layer.use_bias, batch_first=True, dtype=torch.float64)
    p = layer.params
    with torch.no_grad():                                   # in_proj_weight rows: [W_q; W_k; W_v], (out, in)
        for i, part in enumerate(("query", "key", "value")):
            mha.in_proj_weight[i * embed:(i + 1) * embed] = torch.tensor(p[f"{part}_kernel"].reshape(features, -1).T)
            if layer.use_bias:
                mha.in_proj_bias[i * embed:(i + 1) * embed] = torch.tensor(p[f"{part}_bias"].reshape(-1))
        mha.out_proj.weight.copy_(torch.tensor(p["output_kernel"].reshape(embed, -1).T))
        if layer.use_bias:
            mha.out_proj.bias.copy_(torch.tensor(p["output_bias"]))

    def rows(i, shape):
        return lambda g: g[i * embed:(i + 1) * embed].numpy().T.reshape(shape) if len(shape) == 3 else \
            g[i * embed:(i + 1) * embed].numpy().reshape(shape)

    params = {"output_kernel": (mha.out_proj.weight, lambda g: g.numpy().T.reshape(heads, key_dim, -1))}
    for i, part in enumerate(("query", "key", "value")):
        params[f"{part}_kernel"] = (mha.in_proj_weight, rows(i, p[f"{part}_kernel"].shape))
        if layer.use_bias:
            params[f"{part}_bias"] = (mha.in_proj_bias, rows(i, p[f"{part}_bias"].shape))
    if layer.use_bias:
        params["output_bias"] = (mha.out_proj.bias, as_numpy)
    mask = causal_disallowed(torch, steps, steps) if layer.use_causal_mask else None
    return (lambda t: mha(t, t, t, attn_mask=mask, need_weights=False)[0]), params


def torch_mha_general(layer, torch, training):
    """Self-attention of any head sizes through F.scaled_dot_product_attention (value_dim, output_shape free)."""
    F = torch.nn.functional
    tensors = {name: leaf(torch, value) for name, value in layer.params.items()}
    params = {name: (tensor, as_numpy) for name, tensor in tensors.items()}

    def project(part, t):                                   # (N, T, F) -> (N, h, T, d)
        y = torch.einsum("ntf,fhd->nhtd", t, tensors[f"{part}_kernel"])
        return y + tensors[f"{part}_bias"][None, :, None, :] if layer.use_bias else y

    def fn(t):
        steps = t.shape[1]
        mask = ~causal_disallowed(torch, steps, steps) if layer.use_causal_mask else None   # True: attend
        heads_out = F.scaled_dot_product_attention(project("query", t), project("key", t), project("value", t),
                                                   attn_mask=mask)
        y = torch.einsum("nhtd,hdf->ntf", heads_out, tensors["output_kernel"])
        return y + tensors["output_bias"] if layer.use_bias else y
    return fn, params


def torch_position_embedding(layer, torch, training):
    table = leaf(torch, layer.params["embeddings"])
    return (lambda t: t + table[:t.shape[1]]), {"embeddings": (table, as_numpy)}


# ---- the cases -------------------------------------------------------------------------------------------
# Conv1D: kernel sizes, strides, the three paddings (odd and even lengths), dilation, bias, activation, frozen
CONV1D = {                                                  # id: (Conv1D arguments, input shape)
    "k3_valid": ((3, 3), (2, 7, 2)),
    "k3_valid_s2_even": ((2, 3, 2), (2, 8, 3)),
    "k3_same": ((3, 3, 1, "same"), (2, 6, 2)),
    "k4_same_s2_odd": ((3, 4, 2, "same"), (2, 7, 2)),
    "k3_causal": ((2, 3, 1, "causal"), (2, 6, 2)),
    "k3_causal_dilation2": ((2, 3, 1, "causal", 2), (2, 9, 2)),
    "k2_causal_s2_dilation3": ((2, 2, 2, "causal", 3), (2, 9, 1)),
    "k3_valid_dilation2_s2": ((2, 3, 2, "valid", 2), (2, 10, 2)),
    "k2_same_dilation2": ((3, 2, 1, "same", 2), (2, 6, 2)),
    "k1": ((4, 1), (2, 5, 3)),
    "k5_same_long": ((2, 5, 1, "same"), (1, 50, 2)),                     # T = 50
}
for name, (args, shape) in CONV1D.items():
    add(f"conv1d_{name}", lambda args=args: layers.Conv1D(*args), shape, torch=torch_conv1d)
add("conv1d_no_bias_tuple_args", lambda: layers.Conv1D(3, (3,), strides=(1,), padding="causal", use_bias=False),
    (2, 5, 2), torch=torch_conv1d)
add("conv1d_relu", lambda: layers.Conv1D(3, 3, activation="relu"), (2, 6, 2), torch=torch_conv1d,
    inputs=away_from_kinks)
add("conv1d_tanh_l2", lambda: layers.Conv1D(2, 2, padding="same", activation="tanh", kernel_regularizer="l2"),
    (2, 5, 2), torch=torch_conv1d)
add("conv1d_frozen", lambda: layers.Conv1D(2, 3, trainable=False), (2, 5, 2), torch=torch_conv1d)

# windowed pooling over time: valid / same, odd lengths, overlapping windows, ties
POOL1D = {
    "2": ((2,), (2, 6, 3)),
    "2_odd_valid": ((2,), (2, 7, 2)),
    "2_odd_same": ((2, None, "same"), (2, 7, 2)),
    "3_s2_overlap": ((3, 2), (2, 8, 2)),
    "3_s1_same": ((3, 1, "same"), (2, 5, 2)),
    "3_s2_same": ((3, 2, "same"), (2, 8, 2)),
}
for name, (args, shape) in POOL1D.items():
    add(f"max_pool1d_{name}", lambda args=args: layers.MaxPooling1D(*args), shape, torch=torch_max_pool1d)
    add(f"average_pool1d_{name}", lambda args=args: layers.AveragePooling1D(*args), shape,
        torch=torch_average_pool1d)
add("max_pool1d_3_s2_same_ties", lambda: layers.MaxPooling1D(3, 2, "same"), (2, 8, 2), torch=torch_max_pool1d,
    inputs=ties, skip=NO_GRADCHECK_AT_TIES)
add("global_average_pool1d", layers.GlobalAveragePooling1D, (3, 5, 2), torch=torch_global_average1d)
add("global_average_pool1d_keepdims", lambda: layers.GlobalAveragePooling1D(keepdims=True), (2, 4, 3),
    torch=torch_global_average1d)
add("global_max_pool1d", layers.GlobalMaxPooling1D, (3, 5, 2), torch=torch_global_max1d)
add("global_max_pool1d_keepdims", lambda: layers.GlobalMaxPooling1D(keepdims=True), (2, 4, 3),
    torch=torch_global_max1d)
add("global_max_pool1d_ties", layers.GlobalMaxPooling1D, (2, 4, 3), torch=torch_global_max1d, inputs=ties,
    skip=NO_GRADCHECK_AT_TIES)

# LayerNormalization: the last axis of a sequence, of (N, F), other axes and several, without gamma / beta
LAYER_NORM = {
    "sequence": ((), (2, 4, 5)),
    "dense": ((), (4, 6)),
    "axis1": ({"axis": 1}, (3, 4, 2)),
    "axes_1_2": ({"axis": [1, 2]}, (2, 3, 4)),
    "axes_1_3_image": ({"axis": [1, -1]}, (2, 3, 2, 4)),
    "no_beta": ({"center": False}, (3, 5)),
    "no_gamma": ({"scale": False}, (3, 5)),
    "no_gamma_no_beta": ({"center": False, "scale": False}, (3, 5)),
    "epsilon_1e-5": ({"epsilon": 1e-5}, (3, 4, 6)),
}
for name, (kwargs, shape) in LAYER_NORM.items():
    add(f"layer_norm_{name}", lambda kwargs=kwargs: layers.LayerNormalization(**dict(kwargs)), shape,
        torch=torch_layer_norm)
add("layer_norm_frozen", lambda: layers.LayerNormalization(trainable=False), (3, 4), torch=torch_layer_norm)

# MultiHeadAttention as self-attention: nn.MultiheadAttention's shapes, then free head sizes, causal masks,
# no biases, dropout (training differs from inference), a long sequence
MHA = {                                                     # id: (arguments, input shape, torch builder)
    "h2": ({"num_heads": 2, "key_dim": 3}, (2, 4, 6), torch_mha),
    "h1": ({"num_heads": 1, "key_dim": 4}, (2, 3, 4), torch_mha),
    "h2_causal": ({"num_heads": 2, "key_dim": 2, "use_causal_mask": True}, (2, 5, 4), torch_mha),
    "h2_no_bias": ({"num_heads": 2, "key_dim": 3, "use_bias": False}, (2, 4, 6), torch_mha),
    "h3_value_dim_output_shape": ({"num_heads": 3, "key_dim": 2, "value_dim": 3, "output_shape": 5}, (2, 4, 3),
                                  torch_mha_general),
    "h2_causal_value_dim": ({"num_heads": 2, "key_dim": 3, "value_dim": 2, "use_causal_mask": True}, (2, 4, 5),
                            torch_mha_general),
    "h2_long": ({"num_heads": 2, "key_dim": 2, "use_causal_mask": True}, (1, 50, 4), torch_mha),   # T = 50
}
KEY_BIAS = ("key_bias",)       # b_k adds q_t . b_k to every logit of row t: the softmax ignores it, its gradient is 0
for name, (kwargs, shape, builder) in MHA.items():
    add(f"mha_{name}", lambda kwargs=kwargs: layers.MultiHeadAttention(**kwargs, bias_initializer=BIASES), shape,
        torch=builder, zero_grads=KEY_BIAS if kwargs.get("use_bias", True) else ())
add("mha_dropout", lambda: layers.MultiHeadAttention(2, 2, dropout=0.3, bias_initializer=BIASES), (2, 4, 4),
    modes=("train", "infer"), draws=True, zero_grads=KEY_BIAS)
add("mha_frozen", lambda: layers.MultiHeadAttention(1, 2, trainable=False), (2, 3, 2), torch=torch_mha,
    zero_grads=KEY_BIAS)

# PositionEmbedding: the table as long as the input, and longer (its last rows get no gradient)
add("position_embedding", lambda: layers.PositionEmbedding(5), (2, 5, 3), torch=torch_position_embedding)
add("position_embedding_longer_table", lambda: layers.PositionEmbedding(8), (3, 4, 2),
    torch=torch_position_embedding)

assert len({case.id for case in CASES}) == len(CASES), "case ids must be unique"
