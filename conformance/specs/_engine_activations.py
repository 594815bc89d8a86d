"""The deploy engines' known divergences in a layer's activation, as Divergences for the specs:
each engine's reason and evidence, and the predicates that replay its activations
(_engines.py) on the case, elementwise on the layer's output or through a recurrence's Bounded
run (_engine_runs.py)."""
import numpy as np

from conformance.spec import Divergence
from conformance.specs._engine_runs import off_in_run
from conformance.specs._engines import BUILTIN, ONNXRUNTIME, OPENVINO, XNNPACK, off


# Which activations each engine computes otherwise (a case without them is not replayed), and
# why, for a user reading a report
NAMES = {XNNPACK: ("selu", "softplus", "exponential", "sigmoid", "celu", "gelu", "glu",
                   "log_sigmoid", "mish", "silu", "swish"),
         BUILTIN: ("selu", "softplus", "softsign", "celu", "glu", "log_sigmoid", "mish",
                   "silu", "swish", "squareplus", "tanh_shrink", "soft_shrink"),
         ONNXRUNTIME: ("sigmoid", "silu", "swish", "glu", "hard_shrink", "soft_shrink",
                       "sparse_plus", "sparse_sigmoid"),
         OPENVINO: ("softplus", "hard_sigmoid", "relu", "exponential", "softmax", "elu", "selu")}

REASONS = {
    XNNPACK: "LiteRT evaluates some activations otherwise: the converter writes softplus as "
             "log(exp(x) + 1) and selu as scale * alpha * (exp(x) - 1) in float32 (softplus "
             "is 0 below x = -16.6, selu of a tiny negative x is 0), and XNNPACK's exp gives 0 "
             "for NaN, overflows from x = 88.38 and is up to 32 ulps off, and its log is up to "
             "2^-23 absolute off near 1 (softplus 2e-5 relative off at 0.005); its sigmoid is NaN "
             "for some |x| between 1e27 and 2.4e38 (so are silu, x * sigmoid(x), and glu, "
             "a * sigmoid(b)); celu is relu(x) + (exp(min(x, 0)) - 1) (0 for tiny negative "
             "x), log_sigmoid -log(exp(-x) + 1) and mish x * tanh(log(exp(x) + 1)) with that "
             "softplus (log_sigmoid 0 for NaN, -inf below -88.4; mish -0 below -16.6); "
             "XNNPACK's GELU gives -0 from x = -5.164 down and loses digits from x = -2",
    BUILTIN: "LiteRT's builtin kernels evaluate some activations otherwise: the converter writes "
             "softplus as log(exp(x) + 1) and selu as scale * alpha * (exp(x) - 1) in float32, "
             "and each arithmetic kernel clamps an infinity to +-FLT_MAX (3.4028235e38), so "
             "softplus saturates at log(FLT_MAX) = 88.72, and an infinite sum (a Dense or "
             "convolution output) reaches the activation as FLT_MAX; celu, log_sigmoid and "
             "mish are composed the same way (celu of a tiny negative x is 0, log_sigmoid "
             "saturates at -88.72), and silu (swish), glu, celu, mish and tanh_shrink of an "
             "infinity end in a clamping MUL, ADD or SUB (FLT_MAX), and so does soft_shrink "
             "(x - 0.5 or x + 0.5, selected); squareplus, (x + sqrt(x^2 "
             "+ b)) / 2 clamped at each step, gives +-FLT_MAX / 2 for +-inf",
    ONNXRUNTIME: "onnxruntime's Sigmoid is an approximation with an absolute error up to "
                 "1.7e-7 that gives 0 below x = -15.8, where the suite asks 8 ulps of the "
                 "value (so are silu and swish, x * sigmoid(x), -0 below x = -18, and glu, "
                 "a * sigmoid(b)); and tf2onnx writes tf.where as cond * a + (1 - cond) * b, "
                 "so Keras's piecewise hard_shrink, soft_shrink, sparse_plus and "
                 "sparse_sigmoid give NaN for NaN or an infinity where the branch not taken "
                 "is NaN or infinite (the reference: 0, 1 or inf)",
    OPENVINO: "OpenVINO evaluates some activations otherwise: elu and selu as alpha * (exp(x) "
              "- 1) and softplus as log(1 + exp(x)) in float32 (elu and selu cancel near 0, "
              "softplus is 0 below x = -16.6; fused into a convolution it is oneDNN's "
              "soft_relu, n ln 2 + ln(2^-n + exp(r)), off by about |x| 2^-24 for x < 0), "
              "hard_sigmoid's clip gives 1 for NaN, and an activation fused into "
              "a convolution maps NaN to a number (relu 0, exponential inf) and gives softmax "
              "[nan, 0, 0] for a row [nan or inf, 1, 2] (IEEE: all NaN)",
}

EVIDENCE = {
    XNNPACK: "ai-edge-litert 2.3.0 (XNNPACK), tensorflow 2.21 converter, Activation layer on "
             "float32 values: the converted graph is EXP, ADD, LOG for softplus and GREATER, "
             "MUL, EXP, SUB, MUL, SELECT for selu; softplus(-17) = 0 (exact 4.14e-8), "
             "softplus(-10) = 4.55369e-05 (exact 4.53989e-05), softplus(88.7) = inf, "
             "softplus(NaN) = 0; selu(-1e-10) = 0 (exact -1.758e-10), selu(-1e-7) = "
             "-2.0958e-07 (exact -1.7581e-07), selu(NaN) = -1.7580993; exp(NaN) = 0, "
             "exp(88.377) = inf, exp(87) = 6.07601666e37 (exact 6.07603023e37, 18 ulps), 32 "
             "ulps at |x| = 88 over 200001 points of [-100, 100]; sigmoid(1e30) = NaN in every "
             "lane, sigmoid(1.3e27) = 1, sigmoid(3e38) = 1. tensorflow/tensorflow#60892, "
             "#118524, #120300 (softplus). The builtin kernels alone give softplus(-17) = 0 "
             "too but exp(NaN) = NaN and a correctly rounded exp. The activations added since "
             "(tf.lite.experimental.Analyzer on the converted Activation layer): celu is RELU, "
             "MINIMUM, EXP, SUB, ADD, log_sigmoid NEG, EXP, ADD, LOG, NEG, mish EXP, ADD, LOG, "
             "TANH, MUL, silu LOGISTIC, MUL, glu SPLIT, LOGISTIC, MUL, gelu one GELU; on "
             "XNNPACK celu(-1e-11) = 0, celu(-0.011019838) = -0.010959327 (the replay's "
             "value), log_sigmoid(NaN) = 0, log_sigmoid(-95.87) = -inf, mish(-6.66e-26) "
             "equal, silu(1e30) = NaN; GELU on 300001 points of [-15, 15]: -0 from -5.1639 "
             "(exact -6.3e-7 there), relative error 0.34 at -4.9, 6.5e-5 in [-3, -2], 1.5e-7 "
             "above -1 (the builtin GELU within 1.5e-7 down to -14.2). Fixture cases "
             "Activation-069, -157 (celu), -013, -055, Dense-077 (gelu), -191 (glu), -027, "
             "-077, -170, Dense-085, -179 (log_sigmoid), -014, -057 (mish), -066 (silu). XNNPACK's "
             "LOG (xnn_f32_vlog rational-3-3: x * sqrt(2), its mantissa / sqrt(2) - 1 rounded "
             "at the scale of 1) replayed bit for bit on 993,228 points (_engine_float32.py): "
             "log(1.0054784) = 0.0054635494 (correctly rounded 0.0054634307), so LSTM-132's "
             "h = o * softplus(c), c = -5.2069554, is 1.0268623e-3 (the reference 1.0268296e-3, "
             "bound 1.79e-8: 1.83 bounds; with a correctly rounded log 0.58)",
    BUILTIN: "ai-edge-litert 2.3.0 with OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES, "
             "tensorflow 2.21 converter: softplus(89) = softplus(inf) = 88.7228394 and "
             "softplus(-17) = 0; selu(-1e-10) = 0, selu(inf) = 3.4028235e38; softsign(inf) = "
             "3.4028235e38 (ABS, ADD, DIV; IEEE and the reference give NaN); Dense(1, "
             "activation='relu') on an input holding inf gives 3.4028235e38 (Dense-057); "
             "Add on [inf] and [1] gives 3.4028235e38; celu(inf), mish(inf), silu(inf) and "
             "glu([inf, 1]) = 3.4028235e38, log_sigmoid(-inf) = -88.72284, celu(-1e-11) = 0; "
             "swish is silu (LOGISTIC, MUL), tanh_shrink TANH, SUB (tanh_shrink(inf) = "
             "3.4028235e38), squareplus SQUARE, ADD, SQRT, ADD, MUL (squareplus(inf) = "
             "1.7014117e38, squareplus(-inf) = -1.7014117e38); soft_shrink is GREATER, LESS, ADD, "
             "SELECT_V2, SUB, SELECT (soft_shrink(inf) = 3.4028235e38, soft_shrink(-inf) = "
             "-3.4028235e38, soft_shrink(nan) = 0 as in the reference: Activation-172). "
             "The clamp: "
             "tensorflow/lite/kernels/kernel_util.h CalculateActivationRange gives "
             "[lowest(), max()] for kTfLiteActNone and every float kernel applies it with "
             "ActivationFunctionWithMinMax (tensorflow/lite/kernels/internal/common.h)",
    ONNXRUNTIME: "onnxruntime 1.32 CPUExecutionProvider, an ONNX Sigmoid on 2,000,001 points of "
                 "[-25, 25]: largest absolute error 1.66e-7 (at 16.435), sigmoid(-5) = "
                 "0.00669291615 (exact 0.00669285092, 1.1e-5 relative), sigmoid(-17) = "
                 "8.94e-8 (exact 4.14e-8), 0 for every x below -18 and some below -15.83; "
                 "tf2onnx 1.17 maps tf.sigmoid to Sigmoid, which onnxruntime runs with MLAS's "
                 "MlasComputeLogistic (onnxruntime/core/mlas/lib/logistic.cpp). The "
                 "activations added since: Keras 3's silu (and swish) is tf.nn.silu and glu "
                 "x1 * tf.sigmoid(x2) (Sigmoid, Mul): silu(-45.752014) = -0 (exact -6.17e-19, "
                 "Activation-066), swish(-5.4807487) = -0.0227390807 (exact -0.0227392107, 8 "
                 "bounds, Activation-156), swish(-7.9245267) 81 bounds off (Activation-018), "
                 "glu with a = 2.5913079, b = -4.0958633 gives 0.0424169265 (exact "
                 "0.0424170428, Activation-192); hard_shrink, soft_shrink, sparse_plus and "
                 "sparse_sigmoid are nested tf.where (keras/src/backend/tensorflow/nn.py), which "
                 "tf2onnx 1.17 converts with Mul and Add (tf2onnx/onnx_opset/controlflow.py "
                 "Select; onnx/tensorflow-onnx#1199, #1988): hard_shrink(nan) and "
                 "soft_shrink(nan) = NaN (the reference 0: Activation-161, -172, Dense-173, "
                 "-181), sparse_plus(-inf) = NaN (0, Activation-175), sparse_plus(inf) = NaN "
                 "(inf, Dense-182), sparse_sigmoid(inf) = NaN (1, Activation-178, Dense-184)",
    OPENVINO: "openvino 2026.4.1 under Keras 3.15.1, Activation layer on 200001 points of "
              "[-100, 100]: softplus(-17) = 0 (exact 4.14e-8), softplus(-10) = 4.54177e-05 "
              "(exact 4.53989e-05, 1.3e-3 relative); elu(-1e-5) = -1.00135803e-05 (exact "
              "-9.99995e-06; TensorFlow's formula gives the same), elu(-1e-10) = 0, selu(-1e-7) "
              "= -2.09581771e-07 (exact -1.7581e-07), ELU() on -3.91513288e-05 gives "
              "-3.91602516e-05 (ELU-000); hard_sigmoid(NaN) = 1; "
              "SeparableConv2D(softplus) gives 3.8146973e-06 = 2^-18 where the exact value is "
              "1.05e-23 (SeparableConv2D-010), Conv2D(softplus) 0.00545692444 for 0.00545718285 "
              "(Conv2D-034); the fused softplus equals the replay of oneDNN's soft_relu "
              "(src/cpu/x64/injectors/jit_uni_eltwise_injector.cpp soft_relu_compute_vector_fwd "
              "and its table words) bit for bit on 200001 points of [-100, 100] in Conv1D and "
              "DepthwiseConv1D; Conv2D(1, 1) with kernel 1 on NaN gives 0 with "
              "relu, inf with exponential, 1 with hard_sigmoid, and Conv2D(3, 1, "
              "activation='softmax') with bias [inf, 1, 2] gives [nan, 0, 0], while "
              "Activation('relu') keeps NaN and Activation('softmax') gives [nan, nan, nan]",
}


def _case_off(engine, logits_of, clamped_on, fused):
    def when(case):
        name = case.config.get("activation")
        if isinstance(name, dict):
            name = name.get("config")
        clamped = engine in clamped_on and (not isinstance(clamped_on, dict)
                                            or clamped_on[engine](case))
        if not case.expected or not (name in NAMES[engine] or clamped):
            return False
        return off(engine, name, logits_of(case), case.expected[0], case.bounds[0],
                   case.spec, clamped, fused)
    return when


def activation_divergences(logits_of, clamped_on=(BUILTIN,), fused_on=(), logits_on=None):
    """The engines' divergences in a layer's activation, for a layer whose activation input is
    logits_of(case) and output case.expected[0]. clamped_on: the engines whose kernel before
    the activation clamps (TFLite's builtin kernels; XNNPACK takes Dense and 1-D and 2-D
    convolutions, not Conv3D), or {engine: whether it clamps in that case}; fused_on: the
    engines that fuse the activation into it;
    logits_on: {engine: logits_of} where an engine's own arithmetic gives other logits
    (a clamp between SeparableConv2D's two steps)."""
    logits_on = logits_on or {}
    return tuple(Divergence(candidates=(engine,),
                            when=_case_off(engine, logits_on.get(engine, logits_of),
                                           clamped_on, engine in fused_on),
                            reason=REASONS[engine], evidence=EVIDENCE[engine])
                 for engine in (XNNPACK, BUILTIN, ONNXRUNTIME, OPENVINO))


def activations_in_recurrence(activations_of, expect):
    """The engines' activation divergences at some step of a recurrence: activations_of(case)
    names the activations, expect is the spec's (its Bounded run reports every activation it
    evaluates to `watch`). TFLite's builtin kernels clamp the matrix products that feed each
    activation. An activation left to its default is None here (LSTM's and GRU's recurrent
    sigmoid). With them, onnxruntime's masked steps, which select by a product (`select`)."""
    def when_for(engine):
        def when(case):
            names = set(activations_of(case))
            special = case.params.get("regime") in ("special", "large")
            if not (names & set(NAMES[engine]) or (engine == BUILTIN and special)
                    or (engine == ONNXRUNTIME and None in names)):
                return False
            return off_in_run(engine, expect, case, clamped=engine == BUILTIN)
        return when

    def masked_step(case):
        if case.call_kwargs.get("mask") is None or case.params.get("regime") != "special":
            return False
        return off_in_run(ONNXRUNTIME, expect, case, activations=False, select=True)
    return (*(Divergence(candidates=(engine,), when=when_for(engine),
                         reason=REASONS[engine] + "; inside a recurrence, at some step",
                         evidence=EVIDENCE[engine])
              for engine in (XNNPACK, BUILTIN, ONNXRUNTIME, OPENVINO)),
            Divergence(candidates=(ONNXRUNTIME,), when=masked_step, reason=ORT_MASKED_STEP,
                       evidence=ORT_MASKED_STEP_EVIDENCE))


ORT_MASKED_STEP = (
    "a masked step keeps the previous output and states with tf.where, which tf2onnx writes "
    "as mask * new + (1 - mask) * previous, so an infinite or NaN new value at a masked step "
    "gives NaN where the reference keeps the previous one")
ORT_MASKED_STEP_EVIDENCE = (
    "tf2onnx 1.17 tf2onnx/onnx_opset/controlflow.py converts Select and SelectV2 with Mul and "
    "Add rather than ONNX's Where (onnx/tensorflow-onnx#1199; #1988 and #2035 on the NaN it "
    "gives); onnxruntime 1.32: GRU with a mask whose masked steps hold NaN and inf gives NaN "
    "where the reference keeps the previous output (GRU-137, LSTM-137, RNN-102)")


def elu_layer_divergence():
    """OpenVINO's elu in the ELU layer (its alpha, the layer's input as the activation's)."""
    def when(case):
        if not case.expected:
            return False
        alpha = float(np.float32(case.config.get("alpha", 1.0)))
        return off(OPENVINO, "elu", case.inputs[0], case.expected[0], case.bounds[0], case.spec,
                   alpha=alpha)
    return Divergence(candidates=(OPENVINO,), when=when, reason=REASONS[OPENVINO],
                      evidence=EVIDENCE[OPENVINO])
