"""Diagnostics in plain CPython: elapsed times, version detection (with the browser simulated), the report, logging
and ``typechecked`` with and without beartype."""

from __future__ import annotations

import io
import logging
import operator
import platform
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

import workerlib
import workerlib.diagnosis
from workerlib import ABSENT, LOGGER_NAME, UNKNOWN, typechecked
from workerlib._runtime import Context

module: ModuleType = workerlib.diagnosis  # the module; workerlib.diagnostics is the report it makes

PYSCRIPT_PACKAGE = '{"name": "@pyscript/core", "version": "0.7.31", "type": "module"}'


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    """Every test detects again and leaves logging as it found it."""
    caches = (module._version, module._lines, module._workerName)
    for cached in caches:
        cached.cache_clear()
    yield
    module.disableLogging()
    for cached in caches:
        cached.cache_clear()


# --- elapsedTime ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (0.0, "0.0 ms"),
        (0.00004, "0.0 ms"),
        (0.00006, "0.1 ms"),
        (0.0123, "12.3 ms"),
        (0.9999, "999.9 ms"),
        (0.99994, "999.9 ms"),
        (0.99996, "1.00 s"),  # rounds to 1000.0 ms: given in seconds, never as "1000.0 ms"
        (1.0, "1.00 s"),
        (1.004, "1.00 s"),
        (4.567, "4.57 s"),
        (59.999, "60.00 s"),
        (3600.0, "3600.00 s"),
        (-5.0, "0.0 ms"),  # the clock was set back
    ],
)
def test_elapsed_time_formats_both_units_at_their_boundaries(seconds: float, expected: str) -> None:
    start = 1_700_000_000.0
    assert workerlib.elapsedTime(start, now=start + seconds) == expected


def test_elapsed_time_measures_up_to_the_current_time_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module.time, "time", lambda: 100.25)
    assert workerlib.elapsedTime(100.0) == "250.0 ms"
    assert workerlib.elapsedTime(98.0) == "2.25 s"


# --- systemVersions in CPython --------------------------------------------------------------------------------


def test_cpython_reports_its_python_version_and_marks_the_browser_parts_absent() -> None:
    versions = workerlib.systemVersions
    assert list(versions) == ["PyScript", "Pyodide", "Python", "Emscripten"]
    assert dict(versions) == {
        "PyScript": ABSENT,
        "Pyodide": ABSENT,
        "Python": platform.python_version(),
        "Emscripten": ABSENT,
    }
    assert len(versions) == 4
    assert "Python" in versions
    assert "Node" not in versions
    assert repr(versions) == repr(dict(versions))


def test_system_versions_is_read_only_and_rejects_unknown_parts() -> None:
    assert isinstance(workerlib.systemVersions, Mapping)
    versions: Any = workerlib.systemVersions
    with pytest.raises(TypeError):
        versions["Python"] = "2.7"
    with pytest.raises(KeyError):
        versions["Node"]
    assert versions.get("Node") is None


def test_constants() -> None:
    assert (ABSENT, UNKNOWN, LOGGER_NAME) == ("absent", "unknown", "workerlib")
    for name in ("ABSENT", "UNKNOWN", "LOGGER_NAME", "systemVersions", "elapsedTime"):
        assert name in workerlib.__all__
    # As in the original workerlib, the package's `diagnostics` is the report; its module is workerlib.diagnosis.
    assert "diagnostics" in workerlib.__all__
    assert workerlib.diagnostics is module.diagnostics
    assert {"enableLogging", "disableLogging", "typechecked"} <= set(workerlib.__all__)


# --- PyScript's version from where its core was loaded --------------------------------------------------------


class Fetcher:
    """Stands in for a synchronous GET: answers from a table, records what was asked."""

    def __init__(self, answers: dict[str, str] | None = None) -> None:
        self.answers = answers or {}
        self.asked: list[str] = []

    def __call__(self, url: str) -> str | None:
        self.asked.append(url)
        return self.answers.get(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://cdn.jsdelivr.net/npm/@pyscript/core@0.7.31/dist/core.js", "0.7.31"),
        ("https://unpkg.com/@pyscript/core@0.6.0-rc.1/dist/core-C9KDLldu.js", "0.6.0-rc.1"),
        ("https://pyscript.net/releases/2025.11.1/core.js", "2025.11.1"),
        ("https://pyscript.net/releases/2024.1.1/toml-V4Savzlc.js", "2024.1.1"),
    ],
)
def test_a_versioned_path_gives_the_version_without_a_request(url: str, expected: str) -> None:
    fetcher = Fetcher()
    assert module.pyscriptVersionFromUrl(url, fetcher) == expected
    assert fetcher.asked == []


def test_otherwise_the_npm_packages_package_json_is_read() -> None:
    fetcher = Fetcher({"http://127.0.0.1:8000/node_modules/@pyscript/core/package.json": PYSCRIPT_PACKAGE})
    url = "http://127.0.0.1:8000/node_modules/@pyscript/core/dist/core.js"
    assert module.pyscriptVersionFromUrl(url, fetcher) == "0.7.31"
    assert fetcher.asked == ["http://127.0.0.1:8000/node_modules/@pyscript/core/package.json"]


@pytest.mark.parametrize(
    "answer",
    [
        None,  # missing: the core's folder was copied without its package
        "<html>not found</html>",
        '{"name": "my-app", "version": "1.0.0"}',  # some other package.json
        '{"name": "@pyscript/core"}',
        '["@pyscript/core", "0.7.31"]',
    ],
)
def test_a_package_json_that_does_not_tell_gives_unknown(answer: str | None) -> None:
    url = "https://example.org/static/pyscript/dist/core.js"
    fetcher = Fetcher({} if answer is None else {"https://example.org/static/pyscript/package.json": answer})
    assert module.pyscriptVersionFromUrl(url, fetcher) == UNKNOWN


def test_a_workers_code_names_the_core_chunks_it_imports() -> None:
    source = (
        'const a=1;const Tt=async e=>(await import("http://127.0.0.1:8000/node_modules/@pyscript/core/dist/'
        "toml-V4Savzlc.js\")).parse(e);import('https://x.org/zip-T1gzVEcZ.js')"
    )
    assert module.coreUrlFromWorkerSource(source) == (
        "http://127.0.0.1:8000/node_modules/@pyscript/core/dist/toml-V4Savzlc.js"
    )
    assert module.coreUrlFromWorkerSource('import("./relative.js"); import(x)') is None


# --- the browser, simulated -----------------------------------------------------------------------------------


class FakeRequest:
    def __init__(self, server: dict[str, str]) -> None:
        self.server = server
        self.url = ""
        self.status = 0
        self.responseText = ""

    def open(self, method: str, url: str, isAsync: bool) -> None:
        assert (method, isAsync) == ("GET", False)
        self.url = url

    def send(self) -> None:
        found = self.server.get(self.url)
        self.status, self.responseText = (404, "") if found is None else (200, found)


class FakeConsole:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        for method in ("debug", "info", "warn", "error", "log"):
            setattr(self, method, lambda text, method=method: self.lines.append((method, str(text))))


def fakeJs(*, server: dict[str, str] | None = None, **globals_: Any) -> SimpleNamespace:
    served = server or {}
    js = SimpleNamespace(
        XMLHttpRequest=SimpleNamespace(new=lambda: FakeRequest(served)),
        console=FakeConsole(),
        navigator=SimpleNamespace(hardwareConcurrency=8),
        SharedArrayBuffer=object(),
        crossOriginIsolated=True,
    )
    for key, value in globals_.items():
        setattr(js, key, value)
    return js


def fakePage(scripts: list[str], resources: list[str]) -> tuple[Any, Any]:
    document = SimpleNamespace(querySelectorAll=lambda selector: [SimpleNamespace(src=src) for src in scripts])
    performance = SimpleNamespace(getEntriesByType=lambda kind: [SimpleNamespace(name=name) for name in resources])
    return document, performance


def fakeScript(name: str | None) -> Any:
    """The worker's <script> element as PyScript's window proxy shows it; ``None`` when there is no proxy."""
    if name is None:
        return None
    return SimpleNamespace(getAttribute=lambda attribute: name if attribute == "name" else None)


def simulate(
    monkeypatch: pytest.MonkeyPatch, where: Context, js: Any, pyscript: Any = None, workerName: str | None = None
) -> None:
    modules = {
        "js": js,
        "pyscript": pyscript or SimpleNamespace(),
        "pyodide": SimpleNamespace(__version__="314.0.2"),
        "polyscript": SimpleNamespace(currentScript=fakeScript(workerName)),
    }
    monkeypatch.setattr(module, "context", lambda: where)
    monkeypatch.setattr(module, "importBrowserModule", lambda name: modules[name])
    info = SimpleNamespace(emscripten_version=(5, 0, 3), pthreads=False, shared_memory=False)
    monkeypatch.setattr(sys, "_emscripten_info", info, raising=False)


ORIGIN = "http://127.0.0.1:8000"
CORE = f"{ORIGIN}/node_modules/@pyscript/core/dist/core.js"
PACKAGE = {f"{ORIGIN}/node_modules/@pyscript/core/package.json": PYSCRIPT_PACKAGE}


def test_main_thread_finds_the_core_script_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    document, performance = fakePage([f"{ORIGIN}/other/module.js", CORE], [])
    simulate(monkeypatch, Context.MAIN, fakeJs(server=PACKAGE, document=document, performance=performance))
    assert dict(workerlib.systemVersions) == {
        "PyScript": "0.7.31",
        "Pyodide": "314.0.2",
        "Python": platform.python_version(),
        "Emscripten": "5.0.3",
    }


def test_main_thread_falls_back_to_the_resource_timeline(monkeypatch: pytest.MonkeyPatch) -> None:
    # The core imported from inline module code: no <script src>, but the file is in the timeline.
    document, performance = fakePage([], [f"{ORIGIN}/app.toml", CORE])
    simulate(monkeypatch, Context.MAIN, fakeJs(server=PACKAGE, document=document, performance=performance))
    assert workerlib.systemVersions["PyScript"] == "0.7.31"


def test_main_thread_without_a_core_file_gives_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    document, performance = fakePage([f"{ORIGIN}/bundle.js"], [f"{ORIGIN}/bundle.js"])
    simulate(monkeypatch, Context.MAIN, fakeJs(server=PACKAGE, document=document, performance=performance))
    assert workerlib.systemVersions["PyScript"] == UNKNOWN


def test_worker_reads_its_own_code_for_the_core_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    blob = f"blob:{ORIGIN}/1c7df9c9"
    code = f'const x=async e=>(await import("{ORIGIN}/node_modules/@pyscript/core/dist/toml-V4Savzlc.js")).parse(e)'
    js = fakeJs(server={blob: code, **PACKAGE}, location=SimpleNamespace(href=blob))
    simulate(monkeypatch, Context.WORKER, js)
    assert workerlib.systemVersions["PyScript"] == "0.7.31"


def test_worker_falls_back_to_the_main_window_when_pyscript_proxies_it(monkeypatch: pytest.MonkeyPatch) -> None:
    document, performance = fakePage([CORE], [])
    js = fakeJs(server=PACKAGE, location=SimpleNamespace(href="blob:gone"))
    simulate(
        monkeypatch,
        Context.WORKER,
        js,
        SimpleNamespace(window=SimpleNamespace(document=document, performance=performance)),
    )
    assert workerlib.systemVersions["PyScript"] == "0.7.31"


def test_worker_without_any_source_gives_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    js = fakeJs(location=SimpleNamespace(href="blob:gone"))
    simulate(monkeypatch, Context.WORKER, js, SimpleNamespace(window=None))
    assert workerlib.systemVersions["PyScript"] == UNKNOWN


def test_a_worker_without_the_window_proxy_is_named_by_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, Context.WORKER, fakeJs(location=SimpleNamespace(href="x")), SimpleNamespace(window=None))
    assert workerlib.diagnostics[0] == f"workerlib: {workerlib.__version__} in PyScript worker"


def test_pyodide_without_pyscript(monkeypatch: pytest.MonkeyPatch) -> None:
    simulate(monkeypatch, Context.PYODIDE, fakeJs())
    assert workerlib.systemVersions["PyScript"] == ABSENT
    assert workerlib.systemVersions["Pyodide"] == "314.0.2"


def test_each_version_is_detected_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def detect() -> str:
        calls.append("Python")
        return "3.99.0"

    monkeypatch.setitem(module._DETECTORS, "Python", detect)
    assert workerlib.systemVersions["Python"] == "3.99.0"
    assert workerlib.systemVersions["Python"] == "3.99.0"
    assert dict(workerlib.systemVersions)["Python"] == "3.99.0"
    assert calls == ["Python"]


# --- diagnostics ------------------------------------------------------------------------------------------------


def cpythonLines() -> list[str]:
    import beartype

    return [
        f"workerlib: {workerlib.__version__} in {platform.python_implementation()} (no browser)",
        "PyScript: absent",
        "Pyodide: absent",
        f"Python: {platform.python_version()}",
        "Emscripten: absent",
        f"CPU count: {module.os.process_cpu_count()}",
        "pthreads: native threads (not WebAssembly)",
        "SharedArrayBuffer: absent",
        "crossOriginIsolated: absent",
        "sync cancellation: absent",
        "dev mode: off",
        "assertions: enabled",
        f"beartype: {beartype.__version__} (typechecked checks calls)",
    ]


def test_diagnostics_lines_in_cpython() -> None:
    lines = workerlib.diagnostics
    assert list(lines) == cpythonLines()
    # operator.eq: a written `==` would make mypy narrow `lines` to a list for the lines that follow.
    assert operator.eq(lines, cpythonLines())
    assert operator.eq(lines, tuple(cpythonLines()))
    assert operator.ne(lines, "PyScript: absent")
    assert len(lines) == 13
    assert lines[1] == "PyScript: absent"
    assert list(lines[1:3]) == ["PyScript: absent", "Pyodide: absent"]
    assert str(lines) == "\n".join(cpythonLines())
    assert repr(lines) == repr(cpythonLines())


def test_from_workerlib_import_diagnostics_gives_the_printable_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from workerlib import diagnostics

    assert isinstance(diagnostics, Sequence)
    assert not isinstance(diagnostics, ModuleType)
    assert "\n".join(diagnostics) == "\n".join(cpythonLines())
    print(*diagnostics, sep="\n")
    print(diagnostics)
    assert capsys.readouterr().out == ("\n".join(cpythonLines()) + "\n") * 2
    assert len(diagnostics) == len(cpythonLines())
    assert diagnostics[0] == cpythonLines()[0]
    assert diagnostics[-1] == cpythonLines()[-1]
    assert [line for line in diagnostics] == cpythonLines()
    assert "Pyodide: absent" in diagnostics
    assert f"{diagnostics}" == "\n".join(cpythonLines())


def test_the_lines_are_made_when_first_read_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    def report() -> tuple[str, ...]:
        made.append("report")
        return ("only line",)

    monkeypatch.setattr(module, "_report", report)
    from workerlib import diagnostics

    assert made == []
    assert list(diagnostics) == ["only line"]
    assert str(diagnostics) == "only line"
    assert made == ["report"]


@pytest.mark.parametrize(
    "name",
    [
        "elapsedTime",
        "systemVersions",
        "enableLogging",
        "disableLogging",
        "ABSENT",
        "UNKNOWN",
        "LOGGER_NAME",
        "COMPONENTS",
        "LOG_FORMAT",
        "LOG_DATE_FORMAT",
        "SYNC_INTERRUPTED",
        "SYNC_RUNS_ON",
        "pyscriptVersionFromUrl",
        "coreUrlFromWorkerSource",
    ],
)
def test_the_report_carries_the_names_of_its_module(name: str) -> None:
    # Code written when workerlib.diagnostics was the module (workerlib.diagnostics.elapsedTime) keeps working.
    assert getattr(workerlib.diagnostics, name) is getattr(module, name)
    assert name in dir(workerlib.diagnostics)


def test_the_reports_functions_work_through_it() -> None:
    start = 1_700_000_000.0
    assert workerlib.diagnostics.elapsedTime(start, now=start + 0.0123) == "12.3 ms"
    assert workerlib.diagnostics.diagnostics is workerlib.diagnostics
    assert dict(workerlib.diagnostics.systemVersions)["PyScript"] == ABSENT
    with pytest.raises(AttributeError):
        getattr(workerlib.diagnostics, "noSuchName")  # noqa: B009 - a name the report does not have


def test_diagnostics_say_when_beartype_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "beartype", None)  # makes `import beartype` raise ImportError
    assert workerlib.diagnostics[-1] == "beartype: absent (typechecked checks nothing)"


def test_diagnostics_in_a_simulated_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    js = fakeJs(SharedArrayBuffer=None, crossOriginIsolated=False, location=SimpleNamespace(href="x"))
    simulate(monkeypatch, Context.WORKER, js, SimpleNamespace(window=None), workerName="calc")
    lines = list(workerlib.diagnostics)
    assert lines[0] == f"workerlib: {workerlib.__version__} in PyScript worker 'calc'"
    assert lines[1:13] == [
        "PyScript: unknown",
        "Pyodide: 314.0.2",
        f"Python: {platform.python_version()}",
        "Emscripten: 5.0.3",
        "CPU count: 8",
        "pthreads: no",
        "SharedArrayBuffer: unavailable",
        "crossOriginIsolated: no",
        f"sync cancellation: {module.SYNC_RUNS_ON}",
        "dev mode: off",
        "assertions: enabled",
        lines[12],
    ]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [("-X dev", "dev mode: on"), ("-O", "assertions: disabled")],
)
def test_diagnostics_follow_the_interpreters_flags(flag: str, expected: str) -> None:
    code = "from workerlib import diagnostics; print(*diagnostics, sep=chr(10))"
    output = subprocess.run(
        [sys.executable, *flag.split(), "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    assert expected in output.splitlines()


# --- logging ----------------------------------------------------------------------------------------------------


@pytest.fixture
def workerlibLogger() -> logging.Logger:
    return logging.getLogger(LOGGER_NAME)


def test_logging_is_quiet_by_default(workerlibLogger: logging.Logger, capsys: pytest.CaptureFixture[str]) -> None:
    assert any(isinstance(handler, logging.NullHandler) for handler in workerlibLogger.handlers)
    assert workerlibLogger.level == logging.NOTSET
    # A warning would otherwise reach stderr through logging's last-resort handler.
    logging.getLogger(f"{LOGGER_NAME}.client").warning("nobody asked for this")
    assert capsys.readouterr().err == ""


def test_enable_logging_prints_readable_lines(workerlibLogger: logging.Logger) -> None:
    stream = io.StringIO()
    workerlib.enableLogging(stream=stream)
    logging.getLogger(f"{LOGGER_NAME}.client").debug("Calc.add() on worker %r: %s", "calc", "0.4 ms")
    line = stream.getvalue()
    assert line.endswith(" workerlib.client DEBUG Calc.add() on worker 'calc': 0.4 ms\n")
    time, _, _ = line.partition(" ")
    hours, minutes, rest = time.split(":")
    seconds, milliseconds = rest.split(".")
    assert [len(part) for part in (hours, minutes, seconds, milliseconds)] == [2, 2, 2, 3]


def test_enable_logging_twice_keeps_one_handler(workerlibLogger: logging.Logger) -> None:
    before = list(workerlibLogger.handlers)
    first = workerlib.enableLogging(stream=io.StringIO())
    stream = io.StringIO()
    second = workerlib.enableLogging(stream=stream)
    assert workerlibLogger.handlers == [*before, second]
    assert first not in workerlibLogger.handlers
    workerlibLogger.info("once")
    assert stream.getvalue().count("once") == 1


def test_enable_logging_level_and_disable(workerlibLogger: logging.Logger) -> None:
    stream = io.StringIO()
    workerlib.enableLogging("INFO", stream=stream)
    assert workerlibLogger.level == logging.INFO
    workerlibLogger.debug("hidden")
    workerlibLogger.info("shown")
    workerlib.disableLogging()
    workerlibLogger.warning("after")
    assert "hidden" not in stream.getvalue()
    assert "shown" in stream.getvalue()
    assert "after" not in stream.getvalue()
    assert workerlibLogger.level == logging.NOTSET
    assert all(isinstance(handler, logging.NullHandler) for handler in workerlibLogger.handlers)


def test_enable_logging_with_an_unknown_level_changes_nothing(workerlibLogger: logging.Logger) -> None:
    before = list(workerlibLogger.handlers)
    with pytest.raises(ValueError, match="LOUD"):
        workerlib.enableLogging("LOUD")
    assert workerlibLogger.handlers == before
    assert workerlibLogger.level == logging.NOTSET


def test_enable_logging_defaults_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    workerlib.enableLogging()
    logging.getLogger(LOGGER_NAME).debug("to stderr")
    assert "workerlib DEBUG to stderr" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("where", "name", "tag"),
    [(Context.MAIN, None, "[main]"), (Context.WORKER, "calc", "[worker calc]"), (Context.WORKER, None, "[worker]")],
)
def test_in_a_page_records_go_to_the_console_by_level(
    monkeypatch: pytest.MonkeyPatch, workerlibLogger: logging.Logger, where: Context, name: str | None, tag: str
) -> None:
    js = fakeJs()
    simulate(monkeypatch, where, js, workerName=name)
    workerlib.enableLogging()
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        workerlibLogger.log(level, "at %s", logging.getLevelName(level))
    methods = [method for method, _ in js.console.lines]
    assert methods == ["debug", "info", "warn", "error", "error"]
    assert js.console.lines[0][1].endswith(f" workerlib DEBUG {tag} at DEBUG")


# --- typechecked ------------------------------------------------------------------------------------------------


def scale(factor: int, label: str) -> str:
    return label * factor


def test_typechecked_checks_calls_with_beartype() -> None:
    from beartype.roar import BeartypeCallHintParamViolation

    checked = typechecked(scale)
    assert checked is not scale
    assert checked(2, "ab") == "abab"
    with pytest.raises(BeartypeCallHintParamViolation, match=r"parameter factor='two' violates type hint"):
        checked("two", "ab")  # type: ignore[arg-type]


def test_typechecked_is_a_no_op_without_beartype(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "beartype", None)  # makes `from beartype import ...` raise ImportError
    unchecked = typechecked(scale)
    assert unchecked is scale
    assert unchecked("ab", 2) == "abab"  # type: ignore[arg-type]  # not checked: str * int runs
