"""Typed clients (issue 22, item 3): what mypy sees of a client, a pool and their methods, with
``workerlib.mypyplugin`` and without it. Each case runs mypy on a small program, as a user's project would."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from mypy import api

PROGRAM = """
from collections.abc import AsyncIterator, Iterator

from workerlib import WorkerService


class Calc(WorkerService):
    def add(self, a: int, b: int = 0) -> int:
        return a + b

    async def slow(self, x: float, *, label: str = "") -> str:
        return label + str(x)

    def count(self, n: int) -> Iterator[int]:
        yield from range(n)

    async def ticks(self) -> AsyncIterator[float]:
        yield 1.0

    def _hidden(self) -> None:
        pass


async def floats() -> AsyncIterator[float]:
    yield 2.5


async def main() -> None:
    calc = await Calc.connect()
    reveal_type(calc)
    reveal_type(await calc.add(1, 2))
    reveal_type(await calc.slow(1.5, label="x"))
    reveal_type(calc.count(3))
    reveal_type(calc.ticks())
    reveal_type(calc.add)
    reveal_type(calc.workerName)
    spawned = await Calc.spawn("worker.py")
    reveal_type(await spawned.add(1))
    pool = await Calc.pool(2, "worker.py")
    reveal_type(await pool.add(1, 2))
    async for item in calc.count(3):
        reveal_type(item)
    async for done in pool.imapUnordered(Calc.add, [1, 2], [3, 4], chunksize=2):
        reveal_type(done)
    reveal_type(pool.imap(Calc.slow, [1.5]))
    reveal_type(pool.imapUnordered(Calc.slow, floats()))
    reveal_type(await pool.map(Calc.slow, [1.5]))
    reveal_type(await pool.broadcast(Calc.add, 1))
    reveal_type(pool.stats())
    async with await Calc.pool(2, "worker.py") as entered:
        reveal_type(entered)
    async with await Calc.spawn("worker.py") as spawnedEntered:
        reveal_type(spawnedEntered.slow)
    # Errors mypy must report:
    calc.add("one", 2)
    calc.nope()
    calc._hidden()
    await pool.nope()
    total: str = await calc.add(1, 2)
"""


def runMypy(tmp_path: Path, plugin: bool) -> list[str]:
    (tmp_path / "program.py").write_text(textwrap.dedent(PROGRAM))
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nstrict = True\n" + ("plugins = workerlib.mypyplugin\n" if plugin else ""))
    out, err, _ = api.run(
        ["--config-file", str(config), "--no-incremental", "--show-error-codes", str(tmp_path / "program.py")]
    )
    assert not err, err
    return [line.split(": ", 1)[1] for line in out.splitlines() if line.startswith(str(tmp_path))]


@pytest.fixture(scope="module")
def withPlugin(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return runMypy(tmp_path_factory.mktemp("plugin"), plugin=True)


def test_a_client_is_a_service_client_of_its_service(withPlugin: list[str]) -> None:
    assert 'note: Revealed type is "workerlib.client.ServiceClient[program.Calc]"' in withPlugin


def test_awaiting_a_method_gives_what_the_service_method_returns(withPlugin: list[str]) -> None:
    assert 'note: Revealed type is "int"' in withPlugin  # add, and spawned.add, and pool.add
    assert 'note: Revealed type is "str"' in withPlugin  # async def slow: its awaited result
    assert withPlugin.count('note: Revealed type is "int"') >= 3


def test_async_with_keeps_the_service_type(withPlugin: list[str]) -> None:
    assert 'note: Revealed type is "workerlib.pool.Pool[program.Calc]"' in withPlugin
    assert 'note: Revealed type is "def (x: float, *, label: str =) -> workerlib.calls.Call[str]"' in withPlugin


def test_a_generator_method_is_a_stream_of_its_items(withPlugin: list[str]) -> None:
    assert 'note: Revealed type is "workerlib.calls.Stream[int]"' in withPlugin
    assert 'note: Revealed type is "workerlib.calls.Stream[float]"' in withPlugin


def test_a_pools_iteration_is_typed(withPlugin: list[str]) -> None:
    assert withPlugin.count('note: Revealed type is "int"') >= 4  # imapUnordered's items too
    assert withPlugin.count('note: Revealed type is "workerlib.pool.PoolResults[str]"') == 2  # from an async source too
    assert 'note: Revealed type is "list[str]"' in withPlugin
    assert 'note: Revealed type is "list[Any]"' in withPlugin
    assert 'note: Revealed type is "workerlib.pool.PoolStats"' in withPlugin


def test_a_method_keeps_its_parameters_without_self(withPlugin: list[str]) -> None:
    assert 'note: Revealed type is "def (a: int, b: int =) -> workerlib.calls.Call[int]"' in withPlugin


def test_the_clients_own_attributes_keep_their_types(withPlugin: list[str]) -> None:
    assert 'note: Revealed type is "str"' in withPlugin  # workerName


def test_wrong_arguments_unknown_methods_and_wrong_results_are_errors(withPlugin: list[str]) -> None:
    errors = [line for line in withPlugin if line.startswith("error:")]
    assert any('incompatible type "str"; expected "int"' in line for line in errors), errors
    unknown = [line for line in errors if 'has no service method "nope"' in line and "[attr-defined]" in line]
    assert len(unknown) == 2, errors  # on the client and on the pool
    assert "its service methods: add, count, slow, ticks" in unknown[0]
    assert any('has no service method "_hidden"' in line for line in errors), errors
    assert any(
        'Incompatible types in assignment (expression has type "int", variable has type "str")' in line
        for line in errors
    ), errors
    assert len(errors) == 5, errors


def test_without_the_plugin_methods_are_any_and_nothing_is_checked(tmp_path: Path) -> None:
    found = runMypy(tmp_path, plugin=False)
    assert 'note: Revealed type is "workerlib.client.ServiceClient[program.Calc]"' in found
    assert 'note: Revealed type is "Any"' in found
    assert [line for line in found if line.startswith("error:")] == []
