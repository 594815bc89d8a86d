"""conformance/benchmark.py's steady rate: every case answered once, across as many warm
processes as asked, a case the candidate raises on counted as that case's outcome."""
from conformance.benchmark import steady_rate
from tests.suite_runner import fixture_cases


def test_warm_processes_share_the_cases_and_count_what_raised():
    raising = fixture_cases("RepeatVector")[:5]
    cases = fixture_cases("Dense")[:7] + raising
    for processes in (1, 2):
        rate, failures = steady_rate("tests.planted:RaisesOnRepeatVector", 1, processes, cases)
        assert rate > 0
        assert failures == {"raised": len(raising)}, (processes, failures)
