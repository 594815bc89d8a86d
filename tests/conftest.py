"""The suite's own tests run with the default candidate (the run CI makes). With another
--candidate they are set aside: they test the harness, not the candidate."""
from conformance.plugin import DEFAULT_CANDIDATE


def pytest_collection_modifyitems(config, items):
    if config.getoption("candidate") == DEFAULT_CANDIDATE:
        return
    here = config.rootpath / "tests"
    selftests = [i for i in items if here in i.path.parents]
    if selftests:
        config.hook.pytest_deselected(items=selftests)
        items[:] = [i for i in items if i not in selftests]
