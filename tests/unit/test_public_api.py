"""The package's public face: every name in ``__all__`` resolves, the main thread's names load on first use, and a
worker that only serves imports none of the main thread's side (clients, pools, wrapt), which keeps its start short."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import workerlib
from workerlib import calls, client, pool, service

REPOSITORY = Path(__file__).resolve().parents[2]
MAIN_SIDE = ["workerlib.calls", "workerlib.client", "workerlib.pool", "wrapt"]


def test_every_public_name_resolves() -> None:
    for name in workerlib.__all__:
        assert getattr(workerlib, name) is not None, name


def test_the_lazy_names_are_their_modules_objects() -> None:
    modules = {"calls": calls, "client": client, "pool": pool}
    for name, module in workerlib._MAIN_THREAD_NAMES.items():
        assert getattr(workerlib, name) is getattr(modules[module], name)
        assert name in workerlib.__all__


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'noSuchName'"):
        workerlib.noSuchName  # noqa: B018


def test_the_services_copy_of_the_clients_names_is_the_clients() -> None:
    assert service.CLIENT_NAMES == client.CLIENT_NAMES


def test_serving_imports_nothing_of_the_main_threads_side() -> None:
    program = (
        "import json, sys\n"
        "from workerlib import WorkerService, export, typechecked\n"
        "class Calculator(WorkerService, typechecked=True):\n"
        "    def add(self, a: int, b: int) -> int:\n"
        "        return a + b\n"
        f"before = [name for name in {MAIN_SIDE!r} if name in sys.modules]\n"
        "import workerlib\n"
        "workerlib.Pool\n"
        f"after = [name for name in {MAIN_SIDE!r} if name in sys.modules]\n"
        "print(json.dumps([before, after]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, check=True, cwd=REPOSITORY
    ).stdout
    before, after = json.loads(out)
    assert before == []
    assert after == ["workerlib.calls", "workerlib.client", "workerlib.pool"]  # wrapt waits for the first client class
