"""The suite's own tests run with the default candidate (the run CI makes). With another
--candidate they are not even collected: they test the harness, not the candidate, and need
the dev extra (jsonschema, playwright), which a candidate's environment may lack."""
from conformance.plugin import DEFAULT_CANDIDATE


def pytest_ignore_collect(collection_path, config):
    if config.getoption("candidate") != DEFAULT_CANDIDATE and collection_path.suffix == ".py":
        return True
    return None
