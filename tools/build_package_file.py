"""Write ``workerlib.toml``, the remote package file a PyScript config can list as ``packages = ["./workerlib.toml"]``.

PyScript reads a ``packages`` entry ending in ``.toml`` as a package of its own: it fetches the file, and merges the
file's ``[files]`` table (URLs relative to the TOML file) into the config. So the folder this script writes holds the
TOML file and, beside it, the wheels it names, each unpacked into the interpreter's home directory (``"./*"``), which
is on ``sys.path``:

* workerlib's wheel (distribution ``pyscript-workerlib``), with its ``.dist-info``, so ``importlib.metadata`` and
  ``workerlib.__version__`` know its version;
* the pure-Python wheel of each of its requirements (wrapt), checked against the wheel's ``Requires-Dist``.

A config using it must also say ``packages_cache = "passthrough"``: otherwise PyScript loads micropip after reading the
file, even with nothing left to install, and micropip comes from Pyodide's CDN. Standard library only, like the
Pyodide folder builder whose wheel reader it shares.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Final

from tools.build_pyodide_dist import DistError, Wheel, copyIfChanged, readWheel, writeIfChanged

PACKAGE_FILE: Final = "workerlib.toml"
PACKAGE_NAME: Final = "workerlib"
"""The ``name`` the file gives: what PyScript keys the package by (another entry of that name is refused)."""
DISTRIBUTION: Final = "pyscript-workerlib"


def packageFile(workerlib: Wheel, requirements: list[Wheel]) -> str:
    """The text of ``workerlib.toml`` for these wheels, all meant to lie beside it."""
    lines = [
        f"# workerlib {workerlib.version} for PyScript (distribution {DISTRIBUTION}), written by make dist.",
        f'# In a config: packages = ["./{PACKAGE_FILE}"] and packages_cache = "passthrough" (no micropip, no CDN).',
        f"name = {json.dumps(PACKAGE_NAME)}",
        "",
        "[files]",
    ]
    # Each wheel is a zip archive; "./*" unpacks it into the home directory, which is on sys.path.
    lines += [f'{json.dumps("./" + wheel.path.name)} = "./*"' for wheel in (workerlib, *requirements)]
    return "\n".join(lines) + "\n"


def build(wheelPaths: list[Path], out: Path) -> Path:
    """Copy the wheels into ``out`` and write ``out/workerlib.toml`` naming them; return the file's path."""
    wheels = [readWheel(path) for path in wheelPaths]
    own = [wheel for wheel in wheels if wheel.key == DISTRIBUTION]
    if len(own) != 1:
        names = ", ".join(path.name for path in wheelPaths)
        raise DistError(f"expected one {DISTRIBUTION} wheel among {names}: build it first (make wheels)")
    workerlib = own[0]
    requirements = [wheel for wheel in wheels if wheel is not workerlib]
    given = {wheel.key for wheel in requirements}
    if missing := sorted(set(workerlib.requires) - given):
        raise DistError(f"{workerlib.path.name} requires {', '.join(missing)}: pass its pure-Python wheel too")
    if extra := sorted(given - set(workerlib.requires)):
        raise DistError(f"{workerlib.path.name} does not require {', '.join(extra)}: leave its wheel out")
    out.mkdir(parents=True, exist_ok=True)
    keep = {wheel.path.name for wheel in wheels}
    for stale in out.glob("*.whl"):
        if stale.name not in keep:
            stale.unlink()  # an older build's wheel, which the new file no longer names
    for wheel in wheels:
        copyIfChanged(wheel.path, out / wheel.path.name)
    target = out / PACKAGE_FILE
    writeIfChanged(target, packageFile(workerlib, sorted(requirements, key=lambda wheel: wheel.key)))
    print(f"{target}: {', '.join(f'{wheel.name} {wheel.version}' for wheel in wheels)}")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("wheels", type=Path, nargs="+", help="workerlib's wheel and its requirements' pure wheels")
    parser.add_argument("--out", type=Path, required=True, help="the folder to write the file and wheels into")
    arguments = parser.parse_args(argv)
    try:
        build(arguments.wheels, arguments.out)
    except DistError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
