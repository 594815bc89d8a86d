"""A planted candidate whose process breaks depending on what it ran before."""
import os
import signal

from tests.planted import Planted


class CrashesOnFlattenAfterDense(Planted):
    """A process that has answered Dense dies (SIGSEGV) on Flatten, as a heap an earlier case
    corrupted would: every case is right in a fresh process."""
    layer, broken = "Flatten", False

    def run(self, case):
        if case.layer == "Flatten" and CrashesOnFlattenAfterDense.broken:
            os.kill(os.getpid(), signal.SIGSEGV)
        CrashesOnFlattenAfterDense.broken |= case.layer == "Dense"
        return self.correct(case)


class CrashesOnFlattenAfterDenseThenWrong(Planted):
    """The same death, and a fresh process that answers Flatten wrong (every output off by
    one): the case fails, and its first death is still shown beside the failure."""
    layer, broken = "Flatten", False

    def run(self, case):
        if case.layer == "Flatten" and CrashesOnFlattenAfterDenseThenWrong.broken:
            os.kill(os.getpid(), signal.SIGSEGV)
        CrashesOnFlattenAfterDenseThenWrong.broken |= case.layer == "Dense"
        outputs = self.correct(case)
        return [y + 1 for y in outputs] if case.layer == "Flatten" else outputs


EXECUTION_FAILURE = ("tensorflow.python.framework.errors_impl.AbortedError: Operation received an "
                     "exception:Status: 2, message: could not execute a primitive, in file "
                     "tensorflow/core/kernels/mkl/mkl_conv_ops.cc:1112 [Op:Conv2D]")


class FailsToExecuteOnFlattenAfterDense(Planted):
    """A process that has answered Dense raises oneDNN's execution failure on Flatten, as
    TensorFlow's kernels did on ConvLSTM2D and Conv2DTranspose cases in a process that had
    answered thousands: every case is right in a fresh process."""
    layer, broken = "Flatten", False

    def run(self, case):
        if case.layer == "Flatten" and FailsToExecuteOnFlattenAfterDense.broken:
            raise RuntimeError(EXECUTION_FAILURE)
        FailsToExecuteOnFlattenAfterDense.broken |= case.layer == "Dense"
        return self.correct(case)


class FailsToExecuteOnFlatten(Planted):
    """The same failure in every process: the case's own, an error of the run."""
    layer = "Flatten"

    def run(self, case):
        if case.layer == "Flatten":
            raise RuntimeError(EXECUTION_FAILURE)
        return self.correct(case)
