"""workerlib and wrapt load from the Pyodide lock (no micropip) and workerlib sees bare Pyodide, not PyScript.

Each test body runs inside Pyodide: ``run_in_pyodide`` sends only the function's source, so imports go inside it.
"""

from __future__ import annotations

from typing import Any

from pytest_pyodide import run_in_pyodide


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
def test_workerlib_and_wrapt_are_the_project_wheels(selenium: Any, hostVersions: dict[str, str]) -> None:
    import importlib.metadata
    import sys

    import wrapt

    import workerlib
    import workerlib.ports
    import workerlib.workers

    assert workerlib.__file__ is not None
    # /lib/python3.14/site-packages/ on Pyodide 314.0.2 (the default), /lib/python3.13/... on 0.29.5.
    assert workerlib.__file__.startswith(f"/lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages/")
    assert {name: importlib.metadata.version(name) for name in hostVersions} == hostVersions
    # The lock's own wrapt (1.17.2) is a C build from the CDN; this must be the pure wheel that replaced it.
    assert not any(str(file).endswith(".so") for file in importlib.metadata.files("wrapt") or [])
    assert wrapt.__name__ == "wrapt"


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
def test_wrapt_decorators_work(selenium: Any) -> None:
    import typing

    import wrapt

    calls: list[tuple[object, ...]] = []

    # Annotations of nested functions are evaluated in Pyodide, where the module's imports do not exist.
    @wrapt.decorator
    def recorded(wrapped: typing.Any, instance: object, args: tuple[object, ...], kwargs: dict[str, object]) -> object:
        calls.append(args)
        return wrapped(*args, **kwargs)

    @recorded
    def add(a: int, b: int) -> int:
        """Adds."""
        return a + b

    assert add(1, 2) == 3
    assert calls == [(1, 2)]
    assert add.__name__ == "add"
    assert add.__doc__ == "Adds."


@run_in_pyodide(packages=["pyscript-workerlib"])  # type: ignore[untyped-decorator]
def test_context_is_bare_pyodide(selenium: Any) -> None:
    import sys

    import pytest

    from workerlib import _runtime

    assert sys.platform == "emscripten"
    assert _runtime.isEmscripten() is True
    # Node has no PyScript: workerlib must not mistake it for PyScript's main thread or a worker.
    assert _runtime.context() is _runtime.Context.PYODIDE
    assert _runtime.importBrowserModule("js").__name__ == "js"
    assert _runtime.importBrowserModule("pyodide.ffi").__name__ == "pyodide.ffi"
    with pytest.raises(ImportError, match="'pyscript' module, which only exists inside Pyodide/PyScript"):
        _runtime.importBrowserModule("pyscript")
