"""The pytest plugin: options, one test per golden case, candidate processes per worker, and
the results of every worker collected into reports/<candidate>/matrix.json."""
import gc
import json
import os
import shlex
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from conformance import fixtures, gate, models, oracles, precision, specs
from conformance.candidates import BUILTINS, CandidateLoadError, load
from conformance.candidates.isolation import IsolatedCandidate
from conformance.html_report import load_matrix, write_candidate_report
from conformance.report import build_matrix, json_number, plain, write_matrix

DEFAULT_CANDIDATE = "tf.keras"
ENV_CANDIDATE = "KERAS_CONFORMANCE_CANDIDATE"

_common = dict(deadline=None, print_blob=True,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                      HealthCheck.data_too_large])
settings.register_profile("ci", derandomize=True, max_examples=12, database=None, **_common)
settings.register_profile("dev", max_examples=25, **_common)
settings.register_profile("thorough", max_examples=400, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_addoption(parser):
    group = parser.getgroup("keras-conformance")
    group.addoption("--candidate", default=os.environ.get(ENV_CANDIDATE, DEFAULT_CANDIDATE),
                    help=f"implementation to test: {', '.join(BUILTINS)} or module:attribute "
                         f"(default: ${ENV_CANDIDATE} or {DEFAULT_CANDIDATE})")
    group.addoption("--fixtures-dir", default=None, help="golden fixtures (default: shipped)")
    group.addoption("--report-dir", default="reports", help="where reports/<candidate>/ goes")
    group.addoption("--case", action="append", default=[], dest="cases",
                    help="run only this golden case id (repeatable)")
    group.addoption("--layer", action="append", default=[], dest="layers",
                    help="run only this layer's tests (repeatable)")
    group.addoption("--case-timeout", type=float, default=120.0,
                    help="seconds a candidate may take for one case before it counts as hung")
    group.addoption("--oracle", action="store_true", default=None,
                    help="also run the oracle tests (reference vs tf.keras/tf_keras); on by "
                         "default when the candidate is tf.keras or tf_keras")
    group.addoption("--no-oracle", action="store_false", dest="oracle")
    group.addoption("--known-failures", default=None, metavar="FILE",
                    help="case-id patterns (one a line, '#' for the reason) expected to fail: "
                         "they become xfailed, and only unlisted failures fail the run")
    group.addoption("--strict-known-failures", action="store_true",
                    help="fail the run when a listed case passes (a stale entry)")
    group.addoption("--baseline", default=None, metavar="MATRIX",
                    help="an earlier matrix.json: report the cells that regressed or improved")
    group.addoption("--precision", default=None, choices=list(precision.PRECISIONS),
                    help="judge the candidate as computing in this precision (default: what "
                         "it declares, else float32)")
    group.addoption("--model", default=None, metavar="MODEL",
                    help="check this model layer by layer, in place of the golden fixtures: a "
                         ".keras or .h5 file, or keras.applications.<Name>")
    group.addoption("--model-input-size", type=int, default=models.DEFAULT_INPUT_SIZE,
                    metavar="N", help="a keras.applications model's input height and width "
                                      f"(default {models.DEFAULT_INPUT_SIZE})")
    group.addoption("--model-inputs", default=None, metavar="NPZ",
                    help="the model's inputs: each layer also gets a case of the activations "
                         "it really receives")
    group.addoption("--model-fixtures", default=None, metavar="DIR",
                    help="write the model's cases here, a fixture set any candidate can replay "
                         "with --fixtures-dir (default: a temporary folder)")
    group.addoption("--model-objects", action="append", default=[], metavar="MODULE",
                    help="import this module first: it registers the model's custom classes")


@pytest.hookimpl(hookwrapper=True)
def pytest_cmdline_main(config):
    """With xdist workers (-n) and no --dist given, a worker that runs out of tests takes
    queued ones from the other (--dist worksteal) instead of xdist's default fixed chunks
    (load): the suite's tests differ in cost by four orders of magnitude (a golden case
    takes milliseconds, a planted-fault run seconds), and with load one worker sat idle
    for more than a minute at the end of README's test command."""
    option = config.option
    if getattr(option, "numprocesses", None) and getattr(option, "dist", "no") == "no" \
            and not getattr(option, "distload", False):
        option.dist = "worksteal"          # before xdist's own hook turns "no" into "load"
    yield


YOUNG_COLLECTION = 20_000    # at Python's 700, 18,000 collections: 6% of a worker's CPU


def pytest_configure(config):
    gc.set_threshold(YOUNG_COLLECTION, *gc.get_threshold()[1:])   # not in candidates' processes
    config.addinivalue_line("markers", "kc_case: a golden-fixture case run on the candidate")
    config.addinivalue_line("markers", "kc_oracle: checks the reference against tf.keras")
    config.addinivalue_line("markers", "kc_live: a live property test of the candidate")
    config._kc = Session(config)
    config.pluginmanager.register(config._kc, "keras-conformance-session")


class Session:
    """What the plugin knows for one run, on the controller and on each worker."""

    def __init__(self, config):
        self.config = config
        self.target = config.getoption("candidate")
        self.results, self.live, self.candidate_info = {}, {}, None
        self.retried = {}      # case id or live:<layer> -> the first process's death (kc_note)
        self.candidate_info_sent = False
        self.oracle_worst = {}
        self.oracle_fallbacks = []
        if self.target in BUILTINS:
            self.spec = BUILTINS[self.target]().spec
        else:
            try:
                self.spec = load(self.target).spec
            except CandidateLoadError as exc:
                pytest.exit(str(exc), returncode=gate.UNLOADABLE_CANDIDATE)
        self.known, self.baseline = [], None
        self._precision = None
        try:
            if config.getoption("known_failures"):
                self.known = gate.read_known_failures(config.getoption("known_failures"))
            if config.getoption("baseline"):
                self.baseline = load_matrix(config.getoption("baseline"))
        except ValueError as exc:
            raise pytest.UsageError(str(exc)) from None
        root = config.getoption("fixtures_dir") or fixtures.default_root()
        self.fixtures_dir = Path(root)
        self._cases = None
        oracle = config.getoption("oracle")
        self.oracle = oracle if oracle is not None else self.target in oracles.ORACLES.values()
        self.model, self.listing, self._made_dir = config.getoption("model"), None, None
        if self.model:
            self._model_cases()
        elif (self.fixtures_dir / models.LISTING).is_file():     # a model's cases, replayed
            self.listing = models.read_listing(self.fixtures_dir)
            self.oracle = False

    def _model_cases(self):
        """--model: the model's cases, built once (on the controller) into a fixture set that
        replaces the golden fixtures; xdist workers are handed its folder. The oracle tests
        and the live property tests are about the specs' own cases and do not run."""
        config = self.config
        if hasattr(config, "workerinput"):
            self.fixtures_dir = Path(config.workerinput["kc_model_dir"])
        else:
            root = config.getoption("model_fixtures")
            if root is None:
                root = self._made_dir = tempfile.mkdtemp(prefix="kc-model-")
            log = Path(root) / "build.log"
            Path(root).mkdir(parents=True, exist_ok=True)
            try:
                with open(log, "w") as out:
                    models.build(self.model, root, config.getoption("model_input_size"),
                                 config.getoption("model_inputs"),
                                 config.getoption("model_objects"), out=out)
            except (ValueError, OSError, ImportError) as exc:
                raise pytest.UsageError(f"--model {self.model}: {exc}") from None
            self.fixtures_dir = Path(root)
        self.listing = models.read_listing(self.fixtures_dir)
        if self.listing["spec"] != self.spec:
            raise pytest.UsageError(
                f"--model {self.model} is a {self.listing['spec']} model; candidate "
                f"{self.target} computes {self.spec} semantics")
        self.oracle = False

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        """xdist, on the controller: each worker reads the model's cases the controller built."""
        if self.model:
            node.workerinput["kc_model_dir"] = str(self.fixtures_dir)

    def pytest_unconfigure(self, config):
        if self._made_dir and not hasattr(config, "workerinput"):
            shutil.rmtree(self._made_dir, ignore_errors=True)

    def cases(self):
        if self._cases is None:
            layers = set(self.config.getoption("layers"))
            cases, problems = fixtures.load_all(self.fixtures_dir, self.spec, layers)
            wanted = set(self.config.getoption("cases"))
            cases = [c for c in cases if (not wanted or c.id in wanted) and
                     (not layers or c.layer in layers)]
            self._cases = cases + problems
        return self._cases

    # Hooks: on the controller these see every worker's reports -----------------------------
    def pytest_runtest_logreport(self, report):
        props = dict(report.user_properties)
        status = _status(report)
        if "kc_oracle_worst" in props and report.when == "call":
            self.oracle_worst[report.nodeid.split("::")[-1]] = props["kc_oracle_worst"]
        if "kc_oracle_fallbacks" in props and report.when == "call":
            self.oracle_fallbacks += props["kc_oracle_fallbacks"]
        if "kc_candidate" in props and self.candidate_info is None:
            self.candidate_info = props["kc_candidate"]
        # kc_note: the case was answered by a fresh process after the first one died on it,
        # shown after the message whatever the outcome
        note = props.get("kc_note") if status else None
        message = "\n".join(m for m in (_message(report), note) if m)
        if "kc_live" in props and status:
            self.live[props["kc_live"]["layer"]] = {
                "status": status, "message": message, "rerun": props["kc_live"]["rerun"],
                "known": props.get("kc_known")}
            if note:
                self.retried[f"live:{props['kc_live']['layer']}"] = (status, note)
        if "kc_case" in props and status:
            case, outcome = props["kc_case"], props.get("kc_outcome", {})
            if note:
                self.retried[case["id"]] = (status, note)
            self.results[case["id"]] = {
                **case, "status": status, "error_ratio": json_number(outcome.get("error_ratio")),
                "worst": plain(outcome.get("worst")),
                "message": message,
                "error_kind": props.get("kc_error_kind"), "known": props.get("kc_known")}

    def gate_findings(self):
        """Stale known-failures entries, patterns that matched nothing, and the baseline diff."""
        # "matches nothing" is judged against every golden case and property test there is,
        # not only those a --layer or --case filter selected
        ids = []
        if self.known:       # the ids alone (no arrays read); none to match without entries
            ids = fixtures.case_ids(self.fixtures_dir, self.spec) + [
                f"live:{layer}" for layer in specs.SPECS]
        stale = sorted(i for i, r in self.results.items()
                       if r["status"] == "xpassed" and r.get("known") == "file")
        stale += sorted(f"live:{l}" for l, r in self.live.items()
                        if r["status"] == "xpassed" and r.get("known") == "file")
        findings = {"known_failures": self.config.getoption("known_failures"),
                    "stale": stale,
                    "unmatched_patterns": [e.pattern for e in gate.unmatched(self.known, ids)]}
        return findings

    def exit_status(self, pytest_status):
        if any(r.get("error_kind") == "load" for r in self.results.values()):
            return gate.UNLOADABLE_CANDIDATE
        if any(r["id"].startswith("broken:") for r in self.results.values()):
            return gate.BROKEN_FIXTURES
        if self.config.getoption("strict_known_failures") and self.matrix["gate"]["stale"]:
            return gate.REGRESSIONS
        return pytest_status

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session):
        if hasattr(self.config, "workerinput") or not (self.results or self.live):
            return
        info = self.candidate_info or {"name": self.target, "spec": self.spec}
        candidate = {"name": info.get("name", self.target), "spec": info.get("spec", self.spec),
                     "device": info.get("device"), "versions": info.get("versions") or {},
                     "precision": self.precision(info).name, "target": self.target}
        self.matrix = build_matrix(candidate, list(self.results.values()), self.live)
        self.matrix["gate"] = self.gate_findings()
        if self.listing is not None:
            self.matrix["model"] = models.section(self.listing, self.results)
        if self.baseline is not None:
            self.matrix["gate"]["baseline"] = {"path": self.config.getoption("baseline"),
                                               **gate.compare_with_baseline(self.baseline,
                                                                            self.matrix)}
        self.matrix_path = write_matrix(self.config.getoption("report_dir"), self.matrix)
        self.html_path = write_candidate_report(self.matrix_path, self.matrix)
        session.exitstatus = self.exit_status(session.exitstatus)

    def pytest_terminal_summary(self, terminalreporter):
        tr = terminalreporter
        if hasattr(self.config, "workerinput"):
            return
        if self.oracle_worst:
            tr.section("keras-conformance: reference vs oracle, worst error/bound per regime")
            for line in oracle_table(self.oracle_worst.values()):
                tr.write_line(line)
        if self.oracle_fallbacks:
            tr.section("keras-conformance: configs TensorFlow could not run, checked on "
                       "another Keras backend instead")
            groups = {}
            for f in self.oracle_fallbacks:
                key = (f["oracle"], f["layer"], f["error"], f["vouched"])
                groups.setdefault(key, []).append(f["params"])
            for (oracle, layer, error, vouched), params in sorted(groups.items()):
                tr.write_line(f"{oracle} {layer}, {len(params)} examples such as "
                              f"{json.dumps(params[0], sort_keys=True)}")
                tr.write_line(f"    {error}")
                tr.write_line(f"    vouched: {vouched}")
        matrix = getattr(self, "matrix", None)
        if not matrix:
            return
        c = matrix["candidate"]
        tr.section(f"keras-conformance: {c['name']} ({c['spec']}, {c.get('device') or '?'})")
        for layer, entry in matrix["layers"].items():
            counts = ", ".join(f"{n} {s}" for s, n in entry["summary"].items())
            ratios = [r["error_ratio"] for x in entry["cells"] for r in x["case_results"]
                      if r["error_ratio"] is not None and r["status"] in ("passed", "failed")]
            worst = f"; worst error/bound {max(ratios):.3g}" if ratios else ""
            live = f"; live: {entry['live']['status']}" if "live" in entry else ""
            tr.write_line(f"{layer:<20} {counts}{worst}{live}")
        for case_id, (status, note) in sorted(self.retried.items()):
            tr.write_line(f"RETRIED: {case_id} ({status}) {note.splitlines()[0]}", yellow=True)
        findings = matrix["gate"]
        for case_id in findings["stale"]:
            tr.write_line(f"FIXED (stale known-failures entry): {case_id}", yellow=True)
        for pattern in findings["unmatched_patterns"]:
            tr.write_line(f"WARNING: known-failures pattern {pattern!r} matches no case",
                          yellow=True)
        for kind in ("regressed", "improved"):
            for change in findings.get("baseline", {}).get(kind, []):
                tr.write_line(f"{kind.upper()}: {change['layer']} {json.dumps(change['params'])}"
                              f" {change['before']} -> {change['after']}",
                              red=kind == "regressed", green=kind == "improved")
        if "model" in matrix:
            tr.section(f"keras-conformance: model {matrix['model']['name']}, layer by layer")
            for line in models.summary_lines(matrix["model"]):
                tr.write_line(line)
        tr.write_line(f"matrix: {self.matrix_path}")
        tr.write_line(f"report: {self.html_path}")

    def layers(self):
        chosen = self.config.getoption("layers")
        return [name for name in specs.SPECS if not chosen or name in chosen]

    def precision(self, info=None):
        """The precision the candidate is judged as computing in: --precision, else what the
        candidate declares (its `precision`, in `info`), else float32."""
        if self._precision is None:
            declared = self.config.getoption("precision") or (info or {}).get("precision")
            self._precision = precision.get(declared)
        return self._precision

    def rerun(self, case_id):
        parts = ["pytest", "--pyargs", "conformance.test_candidate", "--candidate", self.target,
                 "--case", case_id]
        if self.config.getoption("precision"):
            parts += ["--precision", self.config.getoption("precision")]
        if self.model:
            parts += ["--model", self.model]
            for option in ("model_input_size", "model_inputs"):
                value = self.config.getoption(option)
                if value is not None and value != models.DEFAULT_INPUT_SIZE:
                    parts += [f"--{option.replace('_', '-')}", str(value)]
            for module in self.config.getoption("model_objects"):
                parts += ["--model-objects", module]
        elif self.config.getoption("fixtures_dir"):
            parts += ["--fixtures-dir", str(self.fixtures_dir)]
        return " ".join(shlex.quote(p) for p in parts)


def oracle_table(worst):
    """Lines of a table: one row per layer, spec and device; one column per regime."""
    from conformance.regimes import REGIMES
    rows = {}
    for w in worst:
        rows.setdefault((w["layer"], w["spec"], w["device"]), {})[w["regime"]] = w["ratio"]
    width = max([24] + [len(w["layer"]) + 2 for w in worst])
    # the gradient twins' test records its worst ratio under "gradient": a column of its own
    columns = [*REGIMES, *sorted({w["regime"] for w in worst} - set(REGIMES))]
    lines = [f"{'layer':<{width}}{'spec':<8}{'device':<7}" + "".join(f"{r:>9}" for r in columns)]
    for (layer, spec, device), ratios in sorted(rows.items()):
        cells = "".join(f"{ratios[r]:>9.3g}" if r in ratios else f"{'-':>9}" for r in columns)
        lines.append(f"{layer:<{width}}{spec:<8}{device:<7}{cells}")
    return lines


SUITE_MODULES = ("conformance.test_candidate", "conformance.test_oracle")


def pytest_generate_tests(metafunc):
    """Parametrize the suite's own test modules (never a user's tests) by golden case and by
    layer."""
    if metafunc.module.__name__ not in SUITE_MODULES:
        return
    kc = metafunc.config._kc
    if "golden" in metafunc.fixturenames:
        items = kc.cases()
        metafunc.parametrize("golden", items, ids=[getattr(c, "id", None) or
                                                   f"broken:{c.file}" for c in items])
    if "layer" in metafunc.fixturenames:
        metafunc.parametrize("layer", kc.layers())


def pytest_collection_modifyitems(session, config, items):
    kc = config._kc
    keep, drop = [], []
    for item in items:
        if item.get_closest_marker("kc_oracle") and not kc.oracle:
            drop.append(item)
            continue
        if (config.getoption("cases") or kc.listing is not None) and \
                item.get_closest_marker("kc_live"):
            drop.append(item)
            continue
        if kc.model and not item.get_closest_marker("kc_case"):
            drop.append(item)         # --model runs the model's cases, not the suite's tests
            continue
        keep.append(item)
        layer = getattr(item, "callspec", None) and item.callspec.params.get("layer")
        if item.get_closest_marker("kc_live") and layer:
            listed = gate.known_failure_for(kc.known, f"live:{layer}")
            if listed:
                item.user_properties.append(("kc_known", "file"))
                item.add_marker(pytest.mark.xfail(
                    reason=f"listed in known failures: {listed.reason or listed.pattern}",
                    strict=False))
        golden = getattr(item, "callspec", None) and item.callspec.params.get("golden")
        if golden is not None and hasattr(golden, "layer"):
            item.user_properties.append(("kc_case", {
                "id": golden.id, "layer": golden.layer, "params": plain(golden.params),
                "rerun": kc.rerun(golden.id), "oracle": golden.oracle}))
        elif golden is not None:
            item.user_properties.append(("kc_case", {
                "id": f"broken:{golden.file}", "layer": golden.file.split("/")[-1],
                "params": {"fixture": golden.file}, "rerun": None, "oracle": None}))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_collection_finish(session):
    """The collected cases and items live until the run ends: moved out of the garbage
    collector's reach (gc.freeze), its full passes during the run and pytest's at its end
    stop walking every case's arrays again (a second of a run's CPU)."""
    gc.freeze()


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_setup(item):
    """A golden case the known-failures file lists, or the spec knows the candidate diverges
    on, is marked xfail (not strict) just before it runs, ahead of pytest's own reading of
    the xfail marks: each worker evaluates the divergence predicates of its own cases only."""
    golden = getattr(item, "callspec", None) and item.callspec.params.get("golden")
    if golden is not None and hasattr(golden, "layer"):
        mark_known(item, item.config._kc, golden)
    yield


def mark_known(item, kc, golden):
    listed = gate.known_failure_for(kc.known, golden.id)
    if listed:
        item.user_properties.append(("kc_known", "file"))
        item.add_marker(pytest.mark.xfail(
            reason=f"listed in known failures: {listed.reason or listed.pattern}", strict=False))
        return
    divergence = (specs.get(golden.layer).divergence_for(kc.target, golden)
                  if golden.layer in specs.SPECS else None)
    if divergence:
        item.user_properties.append(("kc_known", "spec"))
        item.add_marker(pytest.mark.xfail(
            reason=f"known divergence: {divergence.reason} ({divergence.evidence})",
            strict=False))
    elif gate.tensorflow_refused(kc.target, golden):
        item.user_properties.append(("kc_known", "spec"))
        item.add_marker(pytest.mark.xfail(
            reason=f"TensorFlow could not run this case when its fixture was made, so "
                   f"{golden.oracle} vouched for it: {golden.fallback_reason}", strict=False))


# Fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def kc(request):
    return request.config._kc


@pytest.fixture(scope="session")
def candidate(kc):
    """The candidate under test, in a child process of this worker."""
    isolated = IsolatedCandidate(kc.target, timeout=kc.config.getoption("case_timeout"))
    yield isolated
    isolated.close()


# Collecting results ---------------------------------------------------------------------------

def _status(report):
    if report.when == "setup":
        if report.failed:
            return "error"
        if report.skipped:
            return "xfailed" if hasattr(report, "wasxfail") else "skipped"
        return None
    if report.when == "call":
        if hasattr(report, "wasxfail"):
            return "xfailed" if report.skipped else "xpassed"
        return {"passed": "passed", "failed": "failed", "skipped": "skipped"}[report.outcome]
    if report.when == "teardown" and report.failed:
        return "error"
    return None


def _message(report):
    if report.passed:
        return ""
    if report.skipped:
        longrepr = report.longrepr
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        return getattr(report, "wasxfail", "") or reason.removeprefix("Skipped: ")
    text = getattr(report, "longreprtext", "") or str(report.longrepr)
    lines = [l for l in text.splitlines() if l.strip()]
    marked = [l[2:] for l in lines if l.startswith("E ")]
    return "\n".join(marked or lines[-12:])[:4000]


