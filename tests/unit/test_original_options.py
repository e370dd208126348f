"""The original workerlib's config-driven options, ported: ``exportFrom`` (its Option #1, ``[exports]``) and the
refusal of ``[adapters]``/``[exports]`` sections with the Python to write instead (``checkConfig``)."""

from __future__ import annotations

import asyncio
import enum
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from workerlib import ConfigError, Worker, server, service, workers
from workerlib._runtime import Context
from workerlib.adapters import registry
from workerlib.client import Connection, Link
from workerlib.server import ServiceTable, Session
from workerlib.service import (
    WorkerService,
    adapterLines,
    checkConfig,
    configProblem,
    exportable,
    exportFrom,
    exportLines,
)
from workerlib.testing import loopbackPair

ORIGINAL_ADAPTERS = {
    "imageProcessor": [["Image", "imageRawEncoder", "imageFromBufferDecoder"], ["Transpose", "None", "None"]],
    "shapes": ["Point", "pointEncoder", "None"],
}


@pytest.fixture
def userModules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Two existing modules, never changed for workerlib: one plain, one that imports something missing."""
    (tmp_path / "usermath.py").write_text(
        textwrap.dedent(
            """
            LIMIT = 10

            def add(a, b):
                return a + b

            async def slowDouble(x):
                return 2 * x

            twice = slowDouble
            """
        )
    )
    (tmp_path / "brokenuser.py").write_text("import noSuchDependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("usermath", "brokenuser"):
        sys.modules.pop(name, None)


def test_exportable_takes_the_modules_functions_by_the_names_given(userModules: Path) -> None:
    import usermath  # type: ignore[import-not-found]

    assert exportable("usermath", ["add", "twice"], {}) == {"add": usermath.add, "twice": usermath.slowDouble}


def test_a_missing_module_says_to_list_its_file(userModules: Path) -> None:
    with pytest.raises(ImportError, match=r"no module 'nomodule' in this worker.*\[files\] \"\./nomodule\.py\" = \"\""):
        exportable("nomodule", ["f"], {})


def test_a_module_missing_its_own_import_keeps_its_own_error(userModules: Path) -> None:
    with pytest.raises(ModuleNotFoundError, match="noSuchDependency"):
        exportable("brokenuser", ["f"], {})


def test_a_missing_name_lists_the_modules_functions(userModules: Path) -> None:
    with pytest.raises(
        AttributeError, match="module 'usermath' has no 'sub'; its functions are add, slowDouble, twice"
    ):
        exportable("usermath", ["add", "sub"], {})


def test_a_name_that_is_not_a_function_is_refused(userModules: Path) -> None:
    with pytest.raises(TypeError, match=r"usermath\.LIMIT is a int, not a function to export"):
        exportable("usermath", ["LIMIT"], {})


def test_a_name_taken_by_another_function_is_refused(userModules: Path) -> None:
    def add() -> None: ...

    with pytest.raises(ValueError, match=r"a different function named 'add' .* is already exported"):
        exportable("usermath", ["add"], {"add": add})
    import usermath

    assert exportable("usermath", ["add"], {"add": usermath.add}) == {"add": usermath.add}  # the same again: fine


@pytest.mark.parametrize(
    ("module", "names", "error", "message"),
    [
        ("usermath", [], ValueError, "name the functions to export"),
        ("usermath", ["add", 3], TypeError, "got 3"),
        ("usermath", ["a b"], TypeError, "got 'a b'"),
        ("", ["add"], TypeError, "non-empty str"),
    ],
)
def test_wrong_arguments_say_what_to_give(
    userModules: Path, module: str, names: list[Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        exportable(module, names, {})


def test_export_from_does_nothing_outside_a_worker(userModules: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    table = ServiceTable(WorkerService)
    monkeypatch.setattr(server, "table", table)
    exportFrom("nomodule", "f")  # not even imported: the main thread may import the worker's file
    assert table.functions == {}


def test_functions_exported_from_unchanged_modules_are_called_through_connect_to_workers_client(
    userModules: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = ServiceTable(WorkerService)
    served: list[bool] = []
    monkeypatch.setattr(server, "table", table)
    monkeypatch.setattr(service, "context", lambda: Context.WORKER)
    monkeypatch.setattr(service, "_serve", lambda: served.append(True))
    exportFrom("usermath", "add", "twice")
    assert list(table.functions) == ["add", "twice"]
    assert served == [True]

    async def run() -> tuple[int, int]:
        mainEnd, workerEnd = loopbackPair("exports")
        Session(workerEnd, table=table)
        worker = Worker(Connection(Link("exports", None, mainEnd)), tuple(table.functions))
        return await worker.add(2, 3), await worker.twice(21)

    assert asyncio.run(run()) == (5, 42)


def test_adapter_lines_register_what_the_original_section_listed(monkeypatch: pytest.MonkeyPatch) -> None:
    class Image:
        def __init__(self, size: int) -> None:
            self.size = size

    class Transpose(enum.Enum):
        FLIP = 1

    class Point:
        def __init__(self, xy: list[int]) -> None:
            self.xy = xy

    imageProcessor = ModuleType("imageProcessor")
    vars(imageProcessor).update(
        Image=Image,
        Transpose=Transpose,
        imageRawEncoder=lambda image: image.size,
        imageFromBufferDecoder=lambda size: Image(size + 1),
    )
    shapes = ModuleType("shapes")
    vars(shapes).update(Point=Point, pointEncoder=lambda point: point.xy)
    monkeypatch.setitem(sys.modules, "imageProcessor", imageProcessor)
    monkeypatch.setitem(sys.modules, "shapes", shapes)
    lines = adapterLines(ORIGINAL_ADAPTERS)
    assert lines == [
        "from workerlib import adapter",
        "from imageProcessor import Image, imageRawEncoder, imageFromBufferDecoder",
        "from imageProcessor import Transpose",
        "from shapes import Point, pointEncoder",
        "adapter(Image, encode=imageRawEncoder, decode=imageFromBufferDecoder)",
        "adapter(Transpose, decode=Transpose)",
        "adapter(Point, encode=pointEncoder, decode=Point)",
    ]
    try:
        exec("\n".join(lines), {})  # the lines the error shows are code that runs
        image, transpose, point = (
            registry.byKey[f"{kind.__module__}.{kind.__qualname__}"] for kind in (Image, Transpose, Point)
        )
        assert image.encode is imageProcessor.imageRawEncoder
        assert image.decode is imageProcessor.imageFromBufferDecoder
        assert transpose.encode is None
        assert transpose.decode is Transpose
        assert point.encode is shapes.pointEncoder
        assert point.decode is Point
    finally:
        for kind in (Image, Transpose, Point):
            registry.unregister(kind)


def test_export_lines_are_the_worker_file_to_write() -> None:
    assert exportLines({"YourModule1": ["func1", "func2"], "YourModule2": ["func3"]}) == [
        "from workerlib import exportFrom",
        'exportFrom("YourModule1", "func1", "func2")',
        'exportFrom("YourModule2", "func3")',
    ]


@pytest.mark.parametrize("section", [{}, "junk", {"m": "x"}, {"m": [["T", "e"]]}])
def test_a_malformed_section_still_gets_an_example(section: Any) -> None:
    assert adapterLines(section)[-1] == "adapter(TypeName, encode=typeEncoder, decode=typeDecoder)"
    assert exportLines(section)[-1] == 'exportFrom("YourModule1", "func1", "func2")'


def test_config_problem_names_the_section_whose_config_and_the_lines() -> None:
    assert configProblem({"files": {}, "packages": []}, "x") is None
    message = configProblem({"adapters": ORIGINAL_ADAPTERS, "exports": {}}, "the main thread's PyScript config")
    assert message is not None
    assert message.startswith("the main thread's PyScript config has an [adapters] section, which workerlib does not")
    assert "    adapter(Image, encode=imageRawEncoder, decode=imageFromBufferDecoder)\n" in message
    message = configProblem({"exports": {"calc": ["add"]}}, "this worker's PyScript config")
    assert message is not None
    assert message.startswith("this worker's PyScript config has an [exports] section")
    assert '    exportFrom("calc", "add")\n' in message


@pytest.mark.parametrize(("where", "whose"), [(Context.MAIN, "the main thread's"), (Context.WORKER, "this worker's")])
def test_check_config_raises_in_pyscript(monkeypatch: pytest.MonkeyPatch, where: Context, whose: str) -> None:
    monkeypatch.setattr(service, "context", lambda: where)
    monkeypatch.setattr(workers, "visibleConfig", lambda: {"adapters": ORIGINAL_ADAPTERS})
    with pytest.raises(ConfigError, match=f"^{whose} PyScript config has an \\[adapters\\]"):
        checkConfig()
    monkeypatch.setattr(workers, "visibleConfig", lambda: {"packages": []})
    checkConfig()


def test_check_config_reads_nothing_outside_pyscript(monkeypatch: pytest.MonkeyPatch) -> None:
    def visible() -> dict[str, Any]:
        raise AssertionError("no PyScript config outside PyScript")

    monkeypatch.setattr(workers, "visibleConfig", visible)
    checkConfig()  # plain CPython: the unit tests' own context


def fakeBrowser(monkeypatch: pytest.MonkeyPatch, *, inWorker: bool, raw: Any) -> None:
    modules = {
        "pyscript": SimpleNamespace(RUNNING_IN_WORKER=inWorker, config={"type": "py"} if inWorker else raw),
        "polyscript": SimpleNamespace(config=raw),
    }
    monkeypatch.setattr(workers, "importBrowserModule", modules.__getitem__)


@pytest.mark.parametrize(
    ("raw", "seen"),
    [
        ('{"adapters": {"m": ["T", "e", "d"]}}', {"adapters": {"m": ["T", "e", "d"]}}),
        ('[adapters]\n"m" = ["T", "e", "d"]\n', {"adapters": {"m": ["T", "e", "d"]}}),
        ("./worker.toml", {}),
        ("https://example.org/configs/worker.json?v=2", {}),
        ("{not json", {}),
        ("", {}),
    ],
)
def test_a_worker_sees_an_inline_config_and_nothing_of_a_config_file(
    monkeypatch: pytest.MonkeyPatch, raw: str, seen: dict[str, Any]
) -> None:
    fakeBrowser(monkeypatch, inWorker=True, raw=raw)
    assert workers.visibleConfig() == seen


def test_the_main_thread_sees_its_whole_config(monkeypatch: pytest.MonkeyPatch) -> None:
    fakeBrowser(monkeypatch, inWorker=False, raw={"adapters": {"m": ["T", "e", "d"]}, "type": "py"})
    assert workers.visibleConfig()["adapters"] == {"m": ["T", "e", "d"]}


@pytest.mark.parametrize(
    ("text", "isJson", "parsed"),
    [
        ('{"exports": {"m": ["f"]}}', None, {"exports": {"m": ["f"]}}),
        ('[exports]\n"m" = ["f"]\n', None, {"exports": {"m": ["f"]}}),
        ('{"a": 1}', False, {}),  # a .toml file holding JSON is not TOML
        ("[1, 2]", True, {}),  # not a table
        ("= broken", None, {}),
    ],
)
def test_parse_config_reads_json_or_toml(text: str, isJson: bool | None, parsed: dict[str, Any]) -> None:
    assert workers.parseConfig(text, isJson=isJson) == parsed


def connectTo(monkeypatch: pytest.MonkeyPatch, userModules: Path, workerConfig: dict[str, Any]) -> list[bool]:
    """A page of one worker, 'w', exporting usermath.add over a loopback channel, its config file reading as
    ``workerConfig``; returns a list that gets True when the main end of the channel closes."""
    table = ServiceTable(WorkerService)
    table.functions.update(exportable("usermath", ["add"], {}))
    closed: list[bool] = []

    async def openChannel(name: str, worker: Any) -> Any:
        mainEnd, workerEnd = loopbackPair(name)
        Session(workerEnd, table=table)
        close = mainEnd.close

        def closing() -> None:
            closed.append(True)
            close()

        monkeypatch.setattr(mainEnd, "close", closing)
        return mainEnd

    async def workerByName(name: str) -> str:
        return name

    async def readConfig(name: str) -> dict[str, Any]:
        assert name == "w"
        return workerConfig

    monkeypatch.setattr(service, "context", lambda: Context.MAIN)
    monkeypatch.setattr(workers, "namedWorkers", lambda: ["w"])
    monkeypatch.setattr(workers, "workerByName", workerByName)
    monkeypatch.setattr(workers, "openChannel", openChannel)
    monkeypatch.setattr(workers, "stopperOf", lambda name: lambda: None)
    monkeypatch.setattr(workers, "workerConfig", readConfig)
    monkeypatch.setattr(service, "_links", {})
    return closed


def test_connecting_refuses_a_worker_whose_config_file_has_an_original_section(
    monkeypatch: pytest.MonkeyPatch, userModules: Path
) -> None:
    closed = connectTo(monkeypatch, userModules, {"files": {}, "exports": {"usermath": ["add"]}})
    with pytest.raises(ConfigError, match=r"^the PyScript config of worker 'w' has an \[exports\] section") as raised:
        asyncio.run(service.connectToWorker("w"))
    assert '    exportFrom("usermath", "add")\n' in str(raised.value)
    assert closed == [True]  # the channel opened for the handshake does not stay open


def test_connecting_to_a_worker_whose_config_file_is_clean_works(
    monkeypatch: pytest.MonkeyPatch, userModules: Path
) -> None:
    closed = connectTo(monkeypatch, userModules, {"files": {"./usermath.py": ""}})

    async def call() -> int:
        worker = await service.connectToWorker("w")
        return int(await worker.add(20, 22))

    assert asyncio.run(call()) == 42
    assert closed == []
