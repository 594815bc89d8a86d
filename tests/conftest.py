"""The suite's own tests run with the default candidate (the run CI makes). With another
--candidate they are not even collected: they test the harness, not the candidate, and need
the dev extra (jsonschema, playwright), which a candidate's environment may lack."""
import os

import pytest

from conformance.plugin import DEFAULT_CANDIDATE


def pytest_ignore_collect(collection_path, config):
    if config.getoption("candidate") != DEFAULT_CANDIDATE and collection_path.suffix == ".py":
        return True
    return None


@pytest.fixture(autouse=True)
def _environment_kept():
    """A test that loads a Keras candidate into its own process (which sets KERAS_BACKEND and
    TF_CPP_MIN_LOG_LEVEL there, as in a candidate's process) leaves the worker's environment as
    it found it: later tests' runs of the suite are forked from the worker's warm server only
    in the environment it started in (tests/warm_pytest.py), and are fresh processes after."""
    saved = dict(os.environ)
    yield
    if os.environ != saved:
        os.environ.clear()
        os.environ.update(saved)
