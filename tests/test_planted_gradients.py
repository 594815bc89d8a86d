"""Each planted faulty backward pass (tests/planted_gradients.py) fails only gradient twins
where the fault can change a gradient (predicted from the fixtures' own cases, by a rule that
says why), and every one of them where nothing can hide it: the unit regime and an activation
whose derivative is nowhere 0 (a saturated tanh in the offset regime, or a relu whose rows are
all negative, gives g = 0, and a fault in summing zeros changes nothing; max pooling has no
activation, and nothing hides its fault). The forward cases pass."""
import numpy as np

from conformance import fixtures
from reference.backward_pooling import _pool_windows
from reference.layout import to_channels_last
from tests.suite_runner import FIXTURES, GRADIENT, ids_with, run_suite


def twins(layer):
    cases, problems = fixtures.load_all(FIXTURES, "keras3", {layer})
    assert not problems
    found = [c for c in cases if c.params.get("contract") == "gradient" and not c.out_of_scope]
    assert found, f"no {layer} gradient twins in {FIXTURES}"
    return found


NOWHERE_FLAT = (None, "linear", "tanh", "sigmoid", "softplus", "elu", "selu", "gelu", "silu",
                "swish", "softsign", "mish", "exponential")


def plain(case):
    return case.params["regime"] == "unit" and case.config.get("activation") in NOWHERE_FLAT


def failing(tmp_path, name, layer):
    code, output, matrix = run_suite(tmp_path, f"tests.planted_gradients:{name}", *GRADIENT,
                                     "--no-oracle", "--fixtures-dir", str(FIXTURES),
                                     "--layer", layer)
    assert matrix is not None, output[-3000:]
    assert not ids_with(matrix, layer, ("error",)), output[-3000:]
    return ids_with(matrix, layer)


def test_a_bias_gradient_without_the_batch_sum(tmp_path):
    """Caught wherever the bias gradient sums more than one row (the batch times the other
    leading axes), and nowhere else."""
    cases = twins("Dense")
    predicted = {c.id for c in cases if c.config.get("use_bias", True)
                 and np.size(c.inputs[0]) // np.shape(c.inputs[0])[-1] > 1}
    must = {c.id for c in cases if c.id in predicted and plain(c)}
    assert must and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "DenseBiasGradientOfOneRow", "Dense")
    assert must <= bad <= predicted, (sorted(must - bad), sorted(bad - predicted))


def test_a_conv2d_kernel_gradient_with_the_kernel_flipped(tmp_path):
    """Caught wherever the kernel has more than one tap along some spatial axis (a 1x1
    kernel's gradient is its own flip)."""
    cases = twins("Conv2D")
    predicted = {c.id for c in cases if np.prod(np.shape(c.weights[0])[:2]) > 1}
    must = {c.id for c in cases if c.id in predicted and plain(c)}
    assert must and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "Conv2DKernelGradientFlipped", "Conv2D")
    assert must <= bad <= predicted, (sorted(must - bad), sorted(bad - predicted))


def widest_window(case):
    """The most input positions any pooling window of the case holds."""
    config = case.config
    x = to_channels_last(np.asarray(case.inputs[0]), config.get("data_format", "channels_last"))
    return max(len(taps) for _, taps in _pool_windows(x, config["pool_size"],
                                                      config.get("strides"),
                                                      config.get("padding", "valid")))


def test_max_pooling_gradient_sent_to_the_whole_window(tmp_path):
    """Caught wherever some window holds more than one input position (its cotangent then
    reaches a position that is not its maximum), and nowhere else (a window of one position
    is its own maximum). The cotangent is a normal draw at every output, and no regime can
    make it 0: every predicted twin must fail."""
    cases = twins("MaxPooling2D")
    predicted = {c.id for c in cases if widest_window(c) > 1}
    must = predicted
    assert must and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "MaxPoolingGradientToTheWholeWindow", "MaxPooling2D")
    assert must <= bad <= predicted, (sorted(must - bad), sorted(bad - predicted))


def test_a_separable_depthwise_gradient_with_the_kernel_flipped(tmp_path):
    """Caught wherever the depthwise kernel has more than one tap (a 1x1 kernel's gradient is
    its own flip), and nowhere else."""
    cases = twins("SeparableConv2D")
    predicted = {c.id for c in cases if np.prod(np.shape(c.weights[0])[:2]) > 1}
    must = {c.id for c in cases if c.id in predicted and plain(c)}
    assert must and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "SeparableDepthwiseGradientFlipped", "SeparableConv2D")
    assert must <= bad <= predicted, (sorted(must - bad), sorted(bad - predicted))


def test_an_attention_output_bias_gradient_without_the_row_sum(tmp_path):
    """Caught wherever the output projection has a bias and the query more than one row (the
    batch times the query positions), and nowhere else: the bias gradient sums the cotangent
    itself, whatever the regime."""
    cases = twins("MultiHeadAttention")
    predicted = {c.id for c in cases if c.config.get("use_bias", True)
                 and np.size(c.inputs[0]) // np.shape(c.inputs[0])[-1] > 1}
    assert predicted and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "AttentionOutputBiasGradientOfOneRow", "MultiHeadAttention")
    assert bad == predicted, (sorted(predicted - bad), sorted(bad - predicted))


def test_batch_normalization_training_without_the_statistics_gradient(tmp_path):
    """Caught in every training twin: dx then lacks r * (mean(a) + xhat * mean(a * xhat)),
    a = u * gamma, which a random u makes nonzero in each channel (with one element per
    channel the truth is 0 and the fault u * gamma / s); never at inference, where the
    statistics are the moving ones and the fault changes nothing."""
    cases = twins("BatchNormalization")
    predicted = {c.id for c in cases if c.call_kwargs.get("training")}
    must = {c.id for c in cases if c.id in predicted and c.params["regime"] == "unit"}
    assert must and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "BatchNormalizationTrainingWithoutStatistics", "BatchNormalization")
    assert must <= bad <= predicted, (sorted(must - bad), sorted(bad - predicted))


def test_an_embedding_gradient_that_overwrites_repeated_rows(tmp_path):
    """Caught wherever some row of the table is read at two positions or more (its gradient
    is then a sum of two N(0, 1) cotangents or more, which one of them is not), and nowhere
    else: a row read once gets its u either way."""
    cases = twins("Embedding")
    predicted = {c.id for c in cases if np.max(np.bincount(np.ravel(c.inputs[0]))) > 1}
    must = {c.id for c in cases if c.id in predicted and c.params["regime"] == "unit"}
    assert must and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "EmbeddingGradientOverwritten", "Embedding")
    assert must <= bad <= predicted, (sorted(must - bad), sorted(bad - predicted))


def steps(case):
    return np.shape(case.inputs[0])[0 if case.config.get("time_major") else 1]


def reaches_back(case):
    """Some row has a real step besides the last processed one (a mask may leave only it)."""
    mask = case.call_kwargs.get("mask")
    if mask is None:
        return True
    mask = np.asarray(mask)
    return bool((mask[:, 1:] if case.config.get("go_backwards") else mask[:, :-1]).any())


def test_lstm_backpropagation_truncated_to_the_last_step(tmp_path):
    """Caught wherever the sequence has more than one step (a one-step sequence's backward is
    its last step's), and nowhere else; every plain twin (both activations nowhere flat) whose
    gradient reaches back past the last processed step must fail."""
    cases = twins("LSTM")
    predicted = {c.id for c in cases if steps(c) > 1}
    must = {c.id for c in cases if c.id in predicted and plain(c) and reaches_back(c)
            and c.config.get("recurrent_activation", "sigmoid") in NOWHERE_FLAT}
    assert must and predicted != {c.id for c in cases}
    bad = failing(tmp_path, "LSTMTruncatedToTheLastStep", "LSTM")
    assert must <= bad <= predicted, (sorted(must - bad), sorted(bad - predicted))
