"""Every example type-checks with ``mypy --strict`` and workerlib's plugin, its clients typed (issue 22, item 3).

Each example is a folder of top-level modules, and every one has a ``main.py``, so mypy runs on one folder at a time
(one run over all of them would find duplicate modules); the project's own mypy run leaves ``examples/`` out for that
reason. The settings are the project's (``pyproject.toml``: ``strict``, the plugin), as a user's project would have.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from mypy import api

REPOSITORY = Path(__file__).resolve().parents[2]
CONFIG = REPOSITORY / "pyproject.toml"
EXAMPLES = sorted(path for path in (REPOSITORY / "examples").iterdir() if (path / "main.py").exists())

# Where a main script gets a client or a pool: ``name = await Service.connect(...)`` (or ``spawn`` or ``pool``, with
# or without an annotation), and ``async with await Service.pool(...) as name:``.
CLIENT = re.compile(
    r"^(?P<indent>[ \t]*)(?P<name>\w+)(?:: [^=]+)? = await \w+\.(?:connect|spawn|pool)\(.*$", re.MULTILINE
)
POOL = re.compile(r"^(?P<indent>[ \t]*)async with await \w+\.pool\(.*\) as (?P<name>\w+):$", re.MULTILINE)
PROBE = "noSuchServiceMethod"
# ``name = await connectToWorker(...)``: a client of exported functions (the original's API), a ``Worker`` whose
# functions are only known once it connects, so any name is a call to mypy. What can be checked is that the client
# itself is a ``Worker``, not ``Any``: ``assert_type`` fails for an ``Any``.
FUNCTIONS_CLIENT = re.compile(
    r"^(?P<indent>[ \t]*)(?P<name>\w+)(?:: [^=]+)? = await (?:\w+\.)?connectToWorker\(.*$", re.MULTILINE
)


def runMypy(folder: Path) -> tuple[int, list[str]]:
    """mypy's exit status and report lines for ``folder``, checked alone with the project's settings."""
    out, err, status = api.run(
        ["--config-file", str(CONFIG), "--no-incremental", "--show-error-codes", "--no-error-summary", str(folder)]
    )
    assert not err, err
    return status, out.splitlines()


def withProbes(source: str) -> tuple[str, int, int]:
    """``source`` with a call of a method no service has after each line that gets a client or enters a pool, and an
    ``assert_type(name, Worker)`` after each that gets a client of exported functions; and how many of each."""
    probes = 0
    workers = 0

    def probe(match: re.Match[str], inside: str) -> str:
        nonlocal probes
        probes += 1
        return f"{match.group(0)}\n{match['indent']}{inside}{match['name']}.{PROBE}()"

    def isWorker(match: re.Match[str]) -> str:
        nonlocal workers
        workers += 1
        imports = "from typing import assert_type as _assertType; from workerlib import Worker as _Worker"
        return f"{match.group(0)}\n{match['indent']}{imports}\n{match['indent']}_assertType({match['name']}, _Worker)"

    source = CLIENT.sub(lambda match: probe(match, ""), source)
    source = POOL.sub(lambda match: probe(match, "    "), source)
    source = FUNCTIONS_CLIENT.sub(isWorker, source)
    return source, probes, workers


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_passes_mypy_strict(example: Path) -> None:
    status, report = runMypy(example)
    assert (status, report) == (0, []), "\n".join(report)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_every_client_and_pool_of_an_example_is_typed(example: Path, tmp_path: Path) -> None:
    """A client typed ``Any`` would accept any method name: each of the example's clients and pools must not, and
    each client of exported functions must be a ``Worker``."""
    copy = tmp_path / example.name
    shutil.copytree(example, copy)
    probed, probes, workers = withProbes((copy / "main.py").read_text())
    assert probes + workers >= 1, f"{example.name}/main.py gets no client in a form this test recognizes"
    (copy / "main.py").write_text(probed)
    status, report = runMypy(copy)
    unknown = [line for line in report if f'has no service method "{PROBE}"' in line and "[attr-defined]" in line]
    assert status == (1 if probes else 0)
    assert len(unknown) == probes == len(report), "\n".join(report)


def test_a_worker_client_typed_any_is_caught(tmp_path: Path) -> None:
    """The ``assert_type`` probe fails when a client of exported functions has lost its type."""
    (tmp_path / "main.py").write_text(
        "from typing import Any\n\nfrom workerlib import connectToWorker\n\n\n"
        "async def main() -> None:\n"
        '    worker: Any = await connectToWorker("legacy")\n'
    )
    probed, probes, workers = withProbes((tmp_path / "main.py").read_text())
    assert (probes, workers) == (0, 1)
    (tmp_path / "main.py").write_text(probed)
    status, report = runMypy(tmp_path)
    assert status == 1
    assert len(report) == 1, "\n".join(report)
    assert "[assert-type]" in report[0]
