"""The deploy engines' conversion failures: configs of ops an engine documents as supported that
its converter cannot turn into a graph its runtime accepts. TensorFlow's TFLite converter (the
litert candidates, litert-fp16 included: it converts the same graph) and tf2onnx (onnxruntime)
each have a few such bugs. A case hit by one is an `error` whose message starts "conversion
failed: ", never a wrong number; each Divergence here names those cases exactly, from the
config and the shapes, with the converter's source line or issue and a minimal reproduction.

Not here: what an engine documents as unsupported and what a one-layer graph cannot express
(both skipped: DOCUMENTED_UNSUPPORTED in conformance/candidates/litert.py and onnx_runtime.py,
one_layer.not_expressible), and the graphs TensorFlow's own kernels refuse (gate.py,
tensorflow_refused).

Versions: TensorFlow 2.21.0 (and its converter), Keras 3.15.1, ai-edge-litert 2.3.0, tf2onnx
1.17.0 (opset 15), onnxruntime 1.32.0.
"""
import re

import numpy as np

from conformance.spec import Divergence
from conformance.specs._engines import LITERT, ONNXRUNTIME
from reference import merge
from reference.padding import as_tuple, output_length, span, transposed_output_length

# The candidates TensorFlow's TFLite converter converts for (conformance/candidates/litert.py)
TFLITE_CONVERTED = (*LITERT, "litert-fp16")


def reaches_the_converter(case):
    """Whether a converting candidate converts the case at all: it skips a common parameter's
    cell, a training call and a stateful layer first (one_layer.not_expressible)."""
    return (case.params.get("contract") is None and case.call_kwargs.get("training") is not True
            and not case.config.get("stateful"))


def _channels_first(case):
    return case.config.get("data_format") == "channels_first"


def _spatial(case, rank):
    """The input's `rank` spatial lengths (a ConvLSTM2D's rows and cols)."""
    shape = np.shape(case.inputs[0])
    return shape[-rank:] if _channels_first(case) else shape[-rank - 1:-1]


def _dilated(case, rank):
    return any(d > 1 for d in as_tuple(case.config.get("dilation_rate", 1), rank, "dilation_rate"))


# Keras 3's TensorFlow add() as a rank-3 NCHW BiasAdd ----------------------------------------

def rank3_nchw_bias_add(x1, x2):
    """Whether Keras 3's TensorFlow add(x1, x2), for tensors of these shapes, is
    tf.nn.bias_add(x1, squeeze(x2), data_format="NCHW") on an x1 of rank 3 (or 5, a
    MultiHeadAttention projection of a rank-4 query: the converter fails alike, "x of rank 5,
    and y of rank 4"; rank 4 converts): x2 squeezes to one axis of length L > 1, and L is x1's
    axis 1 but not its last axis (NHWC is taken first)."""
    long = [d for d in x2 if d > 1]
    return len(x1) in (3, 5) and len(long) == 1 and long[0] == x1[1] and long[0] != x1[-1]


def _conv1d_output(case):
    """The Conv1D's (or DepthwiseConv1D's, channels * depth_multiplier filters) output shape
    (batch, filters, steps) or (batch, steps, filters)."""
    config = case.config
    steps = output_length(_spatial(case, 1)[0], *(
        as_tuple(config.get(name, 1), 1, name)[0]
        for name in ("kernel_size", "strides", "dilation_rate")), config.get("padding", "valid"))
    batch = np.shape(case.inputs[0])[0]
    if case.layer == "DepthwiseConv1D":
        channels = np.shape(case.inputs[0])[1 if _channels_first(case) else -1]
        filters = channels * config.get("depth_multiplier", 1)
    else:
        filters = config["filters"]
    return (batch, filters, steps) if _channels_first(case) else (batch, steps, filters)


def _projections(case):
    """MultiHeadAttention's query, key and value projections: (output shape, bias shape) each,
    x.shape[:-1] + (num_heads, dim) plus a bias (num_heads, dim)."""
    config, kwargs = case.config, case.call_kwargs
    heads, key_dim = config["num_heads"], config["key_dim"]
    value_dim = config.get("value_dim") or key_dim
    value = np.shape(kwargs["value"])
    key = value if kwargs.get("key") is None else np.shape(kwargs["key"])
    return [(tuple(np.shape(case.inputs[0])[:-1]) + (heads, key_dim), (heads, key_dim)),
            (tuple(key[:-1]) + (heads, key_dim), (heads, key_dim)),
            (tuple(value[:-1]) + (heads, value_dim), (heads, value_dim))]


def _additions(case):
    """The (x1, x2) shapes of each ops.add the layer makes: a biased Conv1D adds its bias,
    shaped (1, filters, 1) for channels_first, to the convolution's output (DepthwiseConv1D
    alike, Conv3D a bias (1, filters, 1, 1, 1): a rank-5 BiasAdd); EinsumDense adds its bias
    (shaped by bias_axes) to the einsum's output, and MultiHeadAttention its three
    projections' biases (_projections); a merge layer (Add, Average) adds each input in turn
    to the running sum, after Merge.call has expanded the ranks (after the batch axis). A sum
    that is a BiasAdd keeps x1's shape."""
    if case.layer in ("Conv1D", "DepthwiseConv1D"):
        if not case.config.get("use_bias", True):
            return []
        output = _conv1d_output(case)
        filters = output[1] if _channels_first(case) else output[2]
        bias = (1, filters, 1) if _channels_first(case) else (1, 1, filters)
        return [(output, bias)]
    if case.layer == "Conv3D":
        if not (case.config.get("use_bias", True) and case.expected):
            return []
        output = np.shape(case.expected[0])
        if not _channels_first(case):
            return [(output, (1, 1, 1, 1, output[-1]))]
        return [(output, (1, output[1], 1, 1, 1))]
    if case.layer == "EinsumDense":
        if len(case.weights) < 2 or not case.expected:
            return []
        return [(np.shape(case.expected[0]), np.shape(case.weights[1]))]
    if case.layer == "MultiHeadAttention":
        return _projections(case) if case.config.get("use_bias", True) else []
    shapes = [x.shape for x in merge.expand_ranks(case.inputs)]
    pairs, total = [], shapes[0]
    for shape in shapes[1:]:
        pairs.append((total, shape))
        long = [d for d in shape if d > 1]
        if not (len(long) == 1 and long[0] in (total[1], total[-1])):
            try:
                total = np.broadcast_shapes(total, shape)
            except ValueError:          # TensorFlow cannot add the next input either
                break
    return pairs


def _bias_add_of_rank3(case):
    return reaches_the_converter(case) and any(rank3_nchw_bias_add(x1, x2)
                                               for x1, x2 in _additions(case))


TFLITE_RANK3_BIAS_ADD = Divergence(
    candidates=TFLITE_CONVERTED, when=_bias_add_of_rank3,
    reason="the TFLite converter cannot convert a channels_first (NCHW) BiasAdd on a rank-3 "
           "tensor, which Keras 3 on TensorFlow makes of a channels_first Conv1D's bias (unless "
           "the output has as many steps as filters), of a channels_first DepthwiseConv1D's, "
           "of an EinsumDense bias that squeezes to the output's axis 1 ('ab...,bc->ac...'), "
           "of a MultiHeadAttention projection's bias (num_heads, 1) on a rank-4 query, key "
           "or value whose axis 1 is num_heads long (a rank-5 BiasAdd), of a channels_first "
           "Conv3D's bias (rank 5, unless the output's last axis is as long as the filters) "
           "and of a merge's rank-3 running sum "
           "plus an input that squeezes to its axis 1: its layout pass transposes it as rank 4 "
           "('tf.Transpose' op x should be of the same rank with y): the case is an error, not "
           "a wrong number",
    evidence="keras/src/backend/tensorflow/numpy.py add() (Keras 3.15.1) calls "
             "tf.nn.bias_add(x1, squeeze(x2), data_format='NCHW') when x2 squeezes to a "
             "vector as long as x1's axis 1 and not its last axis. TensorFlow 2.21's converter "
             "(builtin ops): tf.nn.bias_add on x of shape (1, 2, 3) with b of shape (2,), "
             "data_format='NCHW', in a tf.function fails with \"'tf.Transpose' op x should be "
             "of the same rank with y, got x of rank 3, and y of rank 4\"; on (1, 2, 3, 3) it "
             "converts. Average of four (1, 4, 1) inputs (Average-011: Keras and TensorFlow "
             "compute it right) and Conv1D(3, 5, padding='same', dilation_rate=2, "
             "data_format='channels_first') on (1, 3, 1) (Conv1D-018) fail so, and with the same "
             "message channels_first DepthwiseConv1D-009, -019 and -085 and EinsumDense"
             "('ab...,bc->ac...') with a bias (EinsumDense-022, -044, -046); "
             "MultiHeadAttention-008 (num_heads 2, key_dim 1, a value (1, 2, 1, 2): its key and "
             "value projections (1, 2, 1, 2, 1)) fails with \"... got x of rank 5, and y of "
             "rank 4\", and so do tf.nn.bias_add on x of shape (1, 2, 3, 3, 3), NCHW, and "
             "Conv3D(2, 1, data_format='channels_first') on (1, 2, 3, 3, 3) (Conv3D-live-"
             "00005c6c and -000007e7, found by the live property test); without the bias, with "
             "one filter or with an output (1, 2, 2, 2, 2) (an NHWC BiasAdd) the converter gets "
             "to the NCDHW Conv3D and refuses it as LiteRT documents (skipped). Add-031 and "
             "Average-031 also add along the wrong axis in tf.keras (the BiasAdd row), but "
             "never get that far here. No upstream issue found")


# TFLite: a channels_first Conv1D's Squeeze mis-typed ------------------------------------------

def _conv1d_squeeze_mistyped(case):
    """A channels_first Conv1D with more than one filter and more than one output step, unless
    its bias fails first (TFLITE_RANK3_BIAS_ADD)."""
    if not (reaches_the_converter(case) and _channels_first(case)):
        return False
    _, filters, steps = _conv1d_output(case)
    return filters > 1 and steps > 1 and not _bias_add_of_rank3(case)


TFLITE_CONV1D_SQUEEZE = Divergence(
    candidates=TFLITE_CONVERTED, when=_conv1d_squeeze_mistyped,
    reason="the TFLite converter cannot convert a channels_first Conv1D with more than one "
           "filter and more than one output step: TensorFlow computes it as an NCHW Conv2D "
           "and a Squeeze, and the converter's layout pass mis-types the transpose it puts "
           "after that Squeeze ('tfl.transpose' op expect output type ...): the case is an "
           "error, not a wrong number",
    evidence="TensorFlow 2.21's converter (builtin ops): Conv1D(2, 1, data_format="
             "'channels_first', use_bias=False) on (1, 3, 3) fails with \"'tfl.transpose' op "
             "expect output type tensor<1x2x1x3xf32>, got tensor<1x2x3xf32>\", and so does "
             "plain TensorFlow: tf.nn.conv1d(x of shape (1, 3, 3), w of shape (1, 3, 2), 1, "
             "'VALID', data_format='NCW') in a tf.function; one filter, one output step or "
             "channels_last convert. Conv1D-002 (3 filters, 2 steps) fails so, and Conv1D-096 "
             "and -097 (the bias along the last axis, the BiasAdd row) never get that far. No "
             "upstream issue found")


# TFLite: a dilated NCHW convolution's SPACE_TO_BATCH_ND ---------------------------------------

def _space_to_batch_unprepared(case):
    """A dilated channels_first convolution (Conv1D, Conv2D, ConvLSTM2D's input and recurrent
    convolutions), unless the converter refuses the Conv1D first (its bias or its Squeeze)."""
    rank = 1 if case.layer == "Conv1D" else 2
    if not (reaches_the_converter(case) and _channels_first(case) and _dilated(case, rank)):
        return False
    return rank == 2 or not (_bias_add_of_rank3(case) or _conv1d_squeeze_mistyped(case))


TFLITE_NCHW_SPACE_TO_BATCH = Divergence(
    candidates=TFLITE_CONVERTED, when=_space_to_batch_unprepared,
    reason="the TFLite converter writes a dilated channels_first convolution as a "
           "SPACE_TO_BATCH_ND whose block shape has an entry for the channel axis, which "
           "LiteRT's kernel refuses when the interpreter prepares it (space_to_batch_nd.cc: "
           "block_shape->dims->data[0] != spatial_dims_num), so the converted model cannot run: "
           "the case is an error, not a wrong number",
    evidence="TensorFlow 2.21 tensorflow/python/ops/nn_ops.py _with_space_to_batch_call "
             "(l. 858-895) pads the dilation with 1 for the channel axis of an NC.. layout "
             "(_with_space_to_batch_adjust, l. 927); the converter keeps that block shape, "
             "and ai-edge-litert 2.3.0's kernel (tflite/kernels/space_to_batch_nd.cc:67) wants "
             "rank - 2 entries. Conv2D(1, (3, 2), dilation_rate=(2, 1), data_format="
             "'channels_first') on (1, 4, 8, 3) converts to SPACE_TO_BATCH_ND(x, [1, 2, 1], ...) "
             "and allocate_tensors raises \"space_to_batch_nd.cc:67 op_context->block_shape->"
             "dims->data[0] != spatial_dims_num (3 != 2)\" with XNNPACK and without; "
             "channels_last converts and runs. tensorflow/tensorflow#68713 (Conv1D "
             "channels_first with dilation: converts, allocate_tensors fails), #39823 and "
             "#30315 (the same kernel check)")


# TFLite: an input name TensorFlow cannot hold ----------------------------------------------

# TensorFlow's op names (tensorflow/python/framework/ops.py, _VALID_OP_NAME_REGEX)
TF_OP_NAME = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\\/>-]*")


def _input_name_invalid(case):
    """An InputLayer (the model's input, named by its config) whose name is no TensorFlow op
    name: a space or a colon ("a b:0")."""
    name = case.config.get("name")
    return reaches_the_converter(case) and name is not None and not TF_OP_NAME.fullmatch(name)


TFLITE_INPUT_NAME = Divergence(
    candidates=TFLITE_CONVERTED, when=_input_name_invalid,
    reason="the TFLite converter cannot convert a Keras 3 model whose input's name is no "
           "TensorFlow op name: from_keras_model's SavedModel export fails on the signature's "
           "argument name, the converter swallows that and falls back to its Keras 2 path, "
           "which raises TypeError: 'NoneType' object is not callable: the case is an error, "
           "not a wrong number",
    evidence="tensorflow/tensorflow#117453. TensorFlow 2.21 tensorflow/lite/python/lite.py:1679 "
             "(`except Exception: return None, None, None` around the export) and "
             "tflite_keras_util.py:223 (`keras_deps.get_call_context_function()()`, None "
             "under Keras 3); the swallowed error: ValueError \"Got non-flat/non-unique "
             "argument names for SavedModel signature 'serve'\". keras.Input(shape=(1, 3), "
             "name=n) as the whole model: n = 'a b:0' (InputLayer-014), 'ab:0', 'a b', '_x' "
             "and 'é' fail; 'a_b', 'a-b', 'a.b', 'a>b' and '1ab' convert")


# tf2onnx: Conv2DTranspose with trailing zeros, or shorter than its input ----------------------

def _transposed_lengths(case):
    """Per spatial axis: (input length, Keras's output length, the full scatter's length
    (in - 1) * stride + span, which tf2onnx's pads start from)."""
    config = case.config
    kernel, strides, dilation = (as_tuple(config.get(name, 1), 2, name)
                                 for name in ("kernel_size", "strides", "dilation_rate"))
    extra = config.get("output_padding")
    extra = (extra,) * 2 if extra is None or isinstance(extra, int) else tuple(extra)
    return [(n, transposed_output_length(n, k, s, d, config.get("padding", "valid"), p),
             (n - 1) * s + span(k, d))
            for n, k, s, d, p in zip(_spatial(case, 2), kernel, strides, dilation, extra)]


def _output_shorter_than_input(case):
    return reaches_the_converter(case) and any(out < n for n, out, _ in _transposed_lengths(case))


def _negative_pads(case):
    """Some axis whose output is longer than the full scatter (it ends in positions no tap
    reaches), unless an axis is shorter than the input (refused first)."""
    return (reaches_the_converter(case) and not _output_shorter_than_input(case)
            and any(out > full for _, out, full in _transposed_lengths(case)))


TF2ONNX_NEGATIVE_PADS = Divergence(
    candidates=(ONNXRUNTIME,), when=_negative_pads,
    reason="tf2onnx cannot export a Conv2DTranspose whose output is longer, on some axis, than "
           "the full scatter (in - 1) * stride + (kernel - 1) * dilation + 1 ('valid' with "
           "output_padding, a kernel shorter than the stride, a large 'same' output_padding): "
           "it writes the difference as negative pads instead of output_padding, and "
           "onnxruntime refuses to load the model ('Attribute pads must not contain negative "
           "values'): the case is an error, not a wrong number",
    evidence="tf2onnx 1.17.0 tf2onnx/onnx_opset/nn.py:485-495 (Conv2DBackpropInput: pads = "
             "stride * (in - 1) + (kernel - 1) * dilation + 1 - out, halved; ONNX's "
             "output_padding is never set), and tf2onnx.convert.from_keras converts with "
             "continue_on_error=True (convert.py:543), so the export does not raise; "
             "onnxruntime 1.32.0 refuses the model. Conv2DTranspose(1, 1, strides=(1, 3)) on "
             "(1, 2, 4, 1) (output width 12, full scatter 10) gets pads [0, -1, 0, -1] "
             "(Conv2DTranspose-012 fails so). tf2onnx's support_status.md lists "
             "Conv2DBackpropInput as supported. Related: onnx/tensorflow-onnx#1513 (the "
             "explicit pads); no issue found")

TF2ONNX_OUTPUT_SHORTER = Divergence(
    candidates=(ONNXRUNTIME,), when=_output_shorter_than_input,
    reason="tf2onnx cannot export a Conv2DTranspose whose output is shorter than its input on "
           "some axis ('same' with an even kernel and output_padding 0): it refuses the node "
           "('output dims cannot be smaller than input dims') and from_keras goes on, leaving a "
           "ConvTranspose that still takes TensorFlow's output-size input, which onnxruntime "
           "refuses to load: the case is an error, not a wrong number",
    evidence="tf2onnx 1.17.0 tf2onnx/onnx_opset/nn.py:471-472 (utils.make_sure(all("
             "new_output_shape[i] >= input_dims[i] ...), 'output dims cannot be smaller than "
             "input dims.')) and convert.py:543 (from_keras: continue_on_error=True); "
             "onnxruntime 1.32.0: INVALID_GRAPH \"This is an invalid model ... ConvTranspose "
             "... has input size 4 not in range\" (or a type error on its input_sizes). "
             "Conv2DTranspose(3, 2, dilation_rate=(1, 2), padding='same', output_padding=0, "
             "data_format='channels_first') on (2, 4, 4, 4) (Conv2DTranspose-022): Keras's "
             "rows (4 - 1) + 2 - 2 * 1 + 0 = 3 for 4 input rows")


# LiteRT: a TRANSPOSE_CONV it cannot size back ------------------------------------------------

def _transpose_conv_unprepared(case):
    """Some axis whose input length a convolution over the output does not give back (no
    dilation: LiteRT documents none for TRANSPOSE_CONV, and skips such a case; an empty
    output is no TRANSPOSE_CONV left to prepare: Conv2DTranspose-093 passes)."""
    config = case.config
    kernel, strides, dilation = (as_tuple(config.get(name, 1), 2, name)
                                 for name in ("kernel_size", "strides", "dilation_rate"))
    lengths = _transposed_lengths(case)
    return (reaches_the_converter(case) and dilation == (1, 1)
            and all(out > 0 for _, out, _ in lengths)
            and any(output_length(out, k, s, 1, config.get("padding", "valid")) != n
                    for (n, out, _), k, s in zip(lengths, kernel, strides)))


TFLITE_TRANSPOSE_CONV_UNPREPARED = Divergence(
    candidates=TFLITE_CONVERTED, when=_transpose_conv_unprepared,
    reason="LiteRT's TRANSPOSE_CONV computes the input's length back from the output's as a "
           "convolution over it would ('same': ceil(out / stride)) and refuses to prepare a "
           "model where that is not the input's length: a 'same' Conv2DTranspose whose "
           "output_padding makes the output shorter than input * stride by a stride or more "
           "(an even kernel with output_padding 0): the case is an error, not a wrong number",
    evidence="tflite/kernels/transpose_conv.cc:315 (ai-edge-litert 2.3.0): "
             "\"computed_input_height != SizeOfDimension(input, 1) (4 != 5) Node number 0 "
             "(TRANSPOSE_CONV) failed to prepare\" for Conv2DTranspose(1, 2, strides=(2, 1), "
             "padding='same', output_padding=0) on (2, 5, 3, 4) (Conv2DTranspose-live-000004bb, "
             "found by the live property test; output (8, 2)). Over 108 configs (channels_last, "
             "kernel 1 to 3, strides 1 to 3, every output_padding, 'same' and 'valid', 2 and 5 "
             "rows by 3 columns), the 6 this predicts are the 6 that fail, on litert. "
             "Conv2DTranspose-003, -014 and -094 fail so (transpose_conv.cc:316, the width), "
             "fixture cases TensorFlow with oneDNN had refused too")


# tf2onnx: a Gemm with a list-valued alpha or beta --------------------------------------------

def _cells(case):
    """(class name, config, input features) of each cell the layer runs, in order (a
    StackedRNNCells' cell takes the previous cell's units)."""
    config = case.config
    if case.layer == "RNN":
        cell = config["cell"]
        cells = (cell["config"]["cells"] if cell["class_name"] == "StackedRNNCells" else [cell])
        cells = [(c["class_name"].replace("Cell", ""), c["config"]) for c in cells]
    elif case.layer == "Bidirectional":
        cells = [(config["layer"]["class_name"], config["layer"]["config"])]
    else:
        cells = [(case.layer, config)]
    features, out = np.shape(case.inputs[0])[-1], []
    for name, cell in cells:
        out.append((name, cell, features))
        features = cell.get("units")
    return out


def _multiplies_a_matmul_by_the_zero_state(name, cell, features):
    """Whether the cell's first step, its state the constant zeros, computes some gate as a
    bare x @ kernel slice (implementation 1, which recurrent_dropout forces, no bias; an input
    of one feature is folded otherwise) times a zero constant added to a sum: GRU's
    reset_after r * (0 @ recurrent_kernel) beside x @ kernel_h, GRU's z * 0 and LSTM's f * 0
    where the recurrent activation is linear (z and f are then x @ kernel slices)."""
    implementation = 1 if cell.get("recurrent_dropout") else cell.get("implementation", 2)
    if cell.get("use_bias", True) or implementation != 1 or features == 1:
        return False
    linear = cell.get("recurrent_activation", "sigmoid") in (None, "linear")
    if name == "GRU":
        return bool(cell.get("reset_after", True)) or linear
    return name == "LSTM" and linear


def _gemm_with_list_alpha(case):
    """An unrolled GRU or LSTM (or a stack holding one) on a batch of one, from its zero
    initial state (no initial_state given), with a cell that multiplies a matrix product by
    that constant state (_multiplies_a_matmul_by_the_zero_state)."""
    config = case.config
    unroll = config.get("unroll") or (case.layer == "Bidirectional"
                                      and config["layer"]["config"].get("unroll"))
    return bool(reaches_the_converter(case) and unroll and np.shape(case.inputs[0])[0] == 1
                and case.call_kwargs.get("initial_state") is None
                and any(_multiplies_a_matmul_by_the_zero_state(*cell) for cell in _cells(case)))


TF2ONNX_GEMM_LIST_ALPHA = Divergence(
    candidates=(ONNXRUNTIME,), when=_gemm_with_list_alpha,
    reason="tf2onnx cannot export an unrolled GRU or LSTM on a batch of one from its zero "
           "initial state whose first step adds a matrix product x @ kernel to a product by "
           "that state (GRU with reset_after and no bias: r * (0 @ recurrent_kernel); GRU or "
           "LSTM with a linear recurrent activation and no bias: z * 0, f * 0): its Gemm "
           "rewriter takes the (1, units) zero constant as the Gemm's alpha or beta, a list, "
           "and onnxruntime refuses to load the model ('Mismatched attribute type ... alpha'. "
           "Expected: 'FLOAT', actual: 'FLOATS'): the case is an error, not a wrong number",
    evidence="tf2onnx 1.17.0 tf2onnx/rewriter/gemm_rewriter.py:20-57 (alpha * A @ B + C, "
             "A @ B + beta * C with alpha, beta any Const) and get_gemm_attr (l. 112-122): a "
             "Const of one row is unwrapped once, [[0, 0, 0]] -> [0, 0, 0], and kept as a "
             "list attribute (a batch of two fails make_sure's length check and no Gemm is "
             "written). Keras 3.15.1 keras/src/layers/rnn/gru.py GRUCell.call (l. 196-247: "
             "implementation 1 computes x_h = matmul(inputs, kernel[:, 2 * units:]) and, "
             "reset_after, r * matmul(h_tm1, recurrent_kernel[...]), which grappler folds to "
             "r * zeros at the first unrolled step; recurrent_dropout forces implementation 1, "
             "l. 134); lstm.py alike for c = f * c_tm1 + i * g. Of the 55 keras3 GRU, LSTM, RNN "
             "and Bidirectional cases unrolled on a batch of one without initial_state, "
             "exactly GRU-015 (alpha [0.0]), GRU-047, GRU-125, RNN-011, RNN-127 (beta [0.0, "
             "0.0, 0.0] or [0.0, 0.0]) and LSTM-015 (alpha) get the list; GRU-086 (reset_after, "
             "no bias, one input feature: grappler folds x_h away) and GRU-054 (implementation "
             "2: x_h is a Split of one product) do not. No upstream issue found")
