"""`add_attention`: SE (or any attention of `keras_senet.layers.get_attention`) into an existing Keras CNN.

The SE paper's central claim is that the block drops into any architecture (SE-Inception, SE-ResNet,
SE-MobileNet). This rebuilds a functional model with `keras.models.clone_model` (its public
`call_function` hook inserts a layer after a chosen layer's output) and copies every original weight.
"""

from __future__ import annotations

import collections

WHERE = ("auto", "residual", "dense", "bottleneck", "pool")


def _graph(model):
    """(producer layer of each tensor id, consumers of each layer name, layers in topological order)."""
    producer, consumers = {}, collections.defaultdict(list)
    layers = [op for op in model.operations if not _is_input(op)]
    for layer in layers:
        try:
            outputs = layer.output
        except (AttributeError, ValueError) as error:  # called more than once: `output` is ambiguous
            raise ValueError(f"model={model.name!r}: layer {layer.name!r} is shared (called more than once); "
                             f"add_attention needs every layer called once") from error
        for tensor in _flatten(outputs):
            producer[id(tensor)] = layer
    for layer in layers:
        for tensor in _flatten(layer.input):
            source = producer.get(id(tensor))
            if source is not None:
                consumers[source.name].append(layer)
    return producer, consumers, layers


def _is_input(op):
    import keras

    return isinstance(op, keras.layers.InputLayer)


def _flatten(value):
    import keras

    return keras.tree.flatten(value)


def _depths(producer, layers):
    """Longest path (in layers) from the model's inputs to each layer's output, by layer name."""
    depth = {}
    for layer in layers:  # model.operations are in topological order (inputs first)
        parents = [producer.get(id(t)) for t in _flatten(layer.input)]
        depth[layer.name] = 1 + max((depth[p.name] for p in parents if p is not None), default=0)
    return depth


def _merge_branch_ends(kind, producer, layers, depth):
    """For each merge layer of `kind`, the last layer of its deepest input (the residual / new-features branch),
    stepping back over Dropout (EfficientNet's stochastic depth sits between the branch and the Add)."""
    import keras

    targets = []
    for layer in layers:
        if not isinstance(layer, kind):
            continue
        parents = [producer.get(id(t)) for t in _flatten(layer.input)]
        if len(parents) < 2 or any(p is None for p in parents):
            continue
        deepest = sorted(parents, key=lambda p: depth[p.name])
        if depth[deepest[-1].name] == depth[deepest[-2].name]:
            continue  # two equally deep branches: no shortcut to tell apart (e.g. Inception's concat)
        end = deepest[-1]
        while isinstance(end, keras.layers.Dropout) and producer.get(id(end.input)) is not None:
            end = producer[id(end.input)]
        targets.append(end.name)
    return targets


def _is_activation(layer):
    import keras

    return isinstance(layer, (keras.layers.Activation, keras.layers.ReLU, keras.layers.LeakyReLU,
                              keras.layers.PReLU, keras.layers.ELU, keras.layers.Softmax))


def _bottleneck_ends(producer, consumers, layers, taken):
    """BatchNorms right after a 1x1 convolution whose output goes on without an activation or a merge:
    the linear bottleneck that ends an inverted-residual block (MobileNetV2 / EfficientNet) without a shortcut."""
    import keras

    targets = []
    for layer in layers:
        if not isinstance(layer, keras.layers.BatchNormalization) or layer.name in taken:
            continue
        source = producer.get(id(layer.input))
        if not (isinstance(source, keras.layers.Conv2D) and tuple(source.kernel_size) == (1, 1)):
            continue
        after = consumers.get(layer.name, [])
        merges = (keras.layers.Add, keras.layers.Concatenate, keras.layers.Dropout)
        # Goes on into the next block (a shortcut's Add may read it too), never through an activation; a
        # BatchNorm read only by an Add is a projection shortcut (ResNet's downsample), not a block's end.
        if not any(_is_activation(c) for c in after) and any(not isinstance(c, merges) for c in after):
            targets.append(layer.name)
    return targets


def _pool_inputs(producer, layers):
    """The layer before each spatial pooling (VGG's blocks end there)."""
    import keras

    kinds = (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)
    return [producer[id(layer.input)].name for layer in layers
            if isinstance(layer, kinds) and producer.get(id(layer.input)) is not None]


def insertion_points(model, where="auto"):
    """Names of the layers of `model` after whose output `add_attention` inserts a block, in graph order.

    Args:
        model: a functional `keras.Model` whose layers are each called once.
        where: ``"auto"`` (default: ``"residual"`` + ``"dense"`` + ``"bottleneck"``, or ``"pool"`` when the
            model has none of those), ``"residual"`` (the last layer of the deeper branch of every Add:
            ResNet's last BatchNorm before the add, ResNetV2's last conv, MobileNetV2's project BN),
            ``"dense"`` (the new features of every Concatenate whose inputs differ in depth: DenseNet),
            ``"bottleneck"`` (a BatchNorm after a 1x1 conv that feeds no activation or merge: the
            inverted-residual blocks without a shortcut), ``"pool"`` (the layer before every max/average
            pooling: VGG's blocks), a list of layer names, or a callable ``layer -> bool``.
    """
    import keras

    producer, consumers, layers = _graph(model)
    names = [layer.name for layer in layers]
    if callable(where):
        chosen = {layer.name for layer in layers if where(layer)}
    elif isinstance(where, (list, tuple)):
        unknown = [name for name in where if name not in names]
        if unknown:
            raise ValueError(f"where={list(where)!r}: no layer named {unknown} in model {model.name!r}")
        chosen = set(where)
    elif isinstance(where, str) and where in WHERE:
        depth = _depths(producer, layers)
        rules = ("residual", "dense", "bottleneck") if where == "auto" else (where,)
        chosen = set()
        if "residual" in rules:
            chosen.update(_merge_branch_ends(keras.layers.Add, producer, layers, depth))
        if "dense" in rules:
            chosen.update(_merge_branch_ends(keras.layers.Concatenate, producer, layers, depth))
        if "bottleneck" in rules:
            chosen.update(_bottleneck_ends(producer, consumers, layers, chosen))
        if where == "pool" or (where == "auto" and not chosen):
            chosen.update(_pool_inputs(producer, layers))
    else:
        raise ValueError(f"where={where!r} is not one of {', '.join(repr(w) for w in WHERE)}, a list of layer "
                         f"names or a callable layer -> bool")
    return [name for name in names if name in chosen]


def _clone_without_initialising(layer):
    """`layer` rebuilt from its config with zero initialisers: its weights are copied over right after, and
    drawing 25M random numbers first would take most of the surgery's time."""
    config = layer.get_config()
    for key in config:
        if key.endswith("_initializer") and config[key] is not None:
            config[key] = "zeros"
    return layer.__class__.from_config(config)


def add_attention(model, attention="se", *, where="auto", preserve_function=False, name=None,
                  **attention_kwargs):
    """A new functional model: `model` with an attention block after each block of the network.

    Graph surgery with `keras.models.clone_model`: every layer is rebuilt from its config, an attention
    layer is called on the output of each layer of `insertion_points(model, where)`, and every original
    layer's weights are copied (the new model shares no variable with `model`). For a residual block the
    block goes on the residual branch before the add, as in SE-ResNet (Hu et al., Fig. 3).

    Args:
        model: a functional `keras.Model` (keras.applications, keras-senet's registry models, your own);
            a nested sub-model is treated as one layer.
        attention: a name of `keras_senet.layers.list_attention()` (``"se"`` default, ``"eca"``, ``"cbam"``...).
        where: see `insertion_points` (default ``"auto"``).
        preserve_function: wrap each block in `keras_senet.layers.ScaledAttention` with its scale at 0,
            so the new model computes exactly the original function until training moves the scales
            (fine-tune a trained model with SE without starting worse). Default False: plain blocks with
            their random initialisation, as in training from scratch.
        name: the new model's name; default ``f"{model.name}_{attention}"``.
        **attention_kwargs: arguments of the attention layer (``rd_ratio=1/16``, ``gate="hard_sigmoid"``...).

    Returns:
        The new `keras.Model` (a keras-senet ``ZooModel`` carrying `model.preprocessing` when `model` has it).
        Inserted layers are named ``f"{layer}_{attention}"``. `attention_overhead(model, new)` counts
        what they add.

    Raises:
        ValueError: an unknown `attention` or `where`, a model that is not functional, a shared layer, or
        no insertion point found.
    """
    import keras

    from keras_senet.layers import ScaledAttention, get_attention

    get_attention(attention, **attention_kwargs)  # validates the name and arguments before any work
    if not isinstance(model, keras.Model) or not hasattr(model, "operations") or isinstance(model, keras.Sequential):
        raise ValueError(f"model={model!r} is not a functional keras.Model (a Sequential model: rebuild it with "
                         f"keras.Model(inputs, outputs) first)")
    points = set(insertion_points(model, where))
    if not points:
        raise ValueError(f"where={where!r} found no insertion point in model {model.name!r}; pass a list of "
                         f"layer names or a callable layer -> bool")
    taken = {layer.name for layer in model.layers}
    key = attention.lower()

    def insert(layer, *args, **kwargs):
        output = layer(*args, **kwargs)
        if layer.name not in points:
            return output
        block_name = f"{layer.name}_{key}"
        while block_name in taken:
            block_name += "_"
        taken.add(block_name)
        if preserve_function:
            block = ScaledAttention(get_attention(key, **attention_kwargs, name=f"{block_name}_attention"),
                                    name=block_name)
        else:
            block = get_attention(key, **attention_kwargs, name=block_name)
        return block(output)

    # New inputs named as the original ones (clone_model's own would be renamed "keras_tensor...").
    input_names = {id(op.output): op.name for op in model.operations if _is_input(op)}
    inputs = keras.tree.map_structure(
        lambda t: keras.Input(batch_shape=t.shape, dtype=t.dtype, name=input_names.get(id(t))), model.input)
    clone = keras.models.clone_model(model, input_tensors=inputs, clone_function=_clone_without_initialising,
                                     call_function=insert)
    for layer in model.layers:
        if layer.weights:
            clone.get_layer(layer.name).set_weights(layer.get_weights())
    preprocessing = getattr(model, "preprocessing", None)
    if preprocessing is not None or name is not None:
        from keras_senet.models.zoo_model import ZooModel

        return ZooModel(clone.input, clone.output, name=name or f"{model.name}_{key}", preprocessing=preprocessing)
    return keras.Model(clone.input, clone.output, name=f"{model.name}_{key}")


def attention_overhead(model, augmented):
    """What `add_attention` added: ``{"blocks", "params", "params_added", "macs", "macs_added"}``.

    Parameters are all weights (BatchNorm statistics included, as `model.count_params()`); MACs per
    sample by `keras_senet.complexity.count_macs` (convolutions, dense and attention layers), which needs
    a fixed input size. ``params`` and ``macs`` are the original model's.
    """
    from keras_senet.complexity import count_macs

    import keras

    original = {layer.name for layer in model.layers}
    blocks = [layer for layer in augmented.layers
              if layer.name not in original and not isinstance(layer, keras.layers.InputLayer)]
    params, macs = model.count_params(), count_macs(model)
    return {"blocks": len(blocks), "params": params, "params_added": augmented.count_params() - params,
            "macs": macs, "macs_added": count_macs(augmented) - macs}
