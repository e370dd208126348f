"""Assemble a Pyodide folder that works offline, for pytest-pyodide's node runtime and for ``pyodide.loadPackage``.

Why this exists: the npm package ``pyodide`` carries the interpreter only. Its ``pyodide-lock.json`` lists several
hundred packages whose wheels live on Pyodide's CDN, which this project cannot reach. pytest-pyodide's
``run_in_pyodide`` loads ``pytest`` and ``tblib`` (and their dependencies) through that lock, and the project's own
tests load ``workerlib`` and ``wrapt`` the same way, without micropip (which the npm package lacks too). So this script:

1. copies the interpreter's files from the npm package into ``--out``;
2. downloads the pure-Python wheels that ``run_in_pyodide`` needs, pinned below, with pip into a cache directory,
   fetching only those the cache does not hold yet (a second run downloads nothing), for the Python version the
   package's lock names (Pyodide 314.0.2, the default here, runs CPython 3.14; 0.29.5 runs 3.13);
3. copies those wheels and every wheel in ``--wheels`` (workerlib, wrapt's pure wheel) into ``--out``;
4. writes ``--out/pyodide-lock.json``: the npm package's lock with one entry per copied wheel, its ``sha256`` computed
   from the file. The lock's own entries cannot be used as they are: PyPI's wheels have other sums than the ones Pyodide
   built, the lock's pytest (9.0.2 in 314.0.2's lock, which pytest-pyodide 0.59.2 cannot drive) depends on packages
   Python 3.13 and 3.14 do not need, and its wrapt is a C build from the CDN.

Every run starts again from the npm package's lock and leaves ``--out`` in the same state, so it is idempotent.
Standard library only: it runs before anything else is set up.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from email.parser import HeaderParser
from pathlib import Path
from typing import Final

# The interpreter's files. pytest-pyodide's node driver ``require``s ``pyodide.js`` from the folder, and ``loadPyodide``
# reads the others from the same folder. The source maps only make JavaScript stack traces readable.
CORE_FILES: Final = (
    "pyodide.js",
    "pyodide.mjs",
    "pyodide.asm.wasm",
    "python_stdlib.zip",
    "package.json",
    "pyodide.js.map",
    "pyodide.mjs.map",
)
# Emscripten's loader: ``pyodide.asm.mjs`` from Pyodide 314 on, ``pyodide.asm.js`` before. A package has one of them.
LOADER_FILES: Final = ("pyodide.asm.mjs", "pyodide.asm.js")
LOCK_FILE: Final = "pyodide-lock.json"


@dataclass(frozen=True)
class Pin:
    """A wheel downloaded from PyPI: its exact version, the sum of its file, and the packages it needs in Pyodide."""

    version: str
    sha256: str
    depends: tuple[str, ...] = ()


# What run_in_pyodide loads inside Pyodide: pytest, so that asserts rewritten on the host work there (the same version
# as the project's dev pin, so the rewritten code calls helpers that exist), and tblib, for readable tracebacks. Their
# dependency closure on Python 3.13 and 3.14: pytest's conditional requirements (colorama on win32, exceptiongroup
# and tomli before 3.11) do not apply, and none of the others has requirements. Keys are normalized project names.
PINNED_WHEELS: Final[dict[str, Pin]] = {
    "pytest": Pin(
        "8.4.2",
        "872f880de3fc3a5bdc88a11b39c9710c3497a547cfa9320bc3c5e62fbf272e79",
        ("iniconfig", "packaging", "pluggy", "pygments"),
    ),
    "pluggy": Pin("1.7.0", "7dd7b0d8832ba3cb632c306926ded123429211b83641b35dc5c41ad2d34f9bec"),
    "iniconfig": Pin("2.3.1", "9121e2c1fdb355232495be3194c8dfe87ccc2d5dee45947b78e68f499790d7a7"),
    "packaging": Pin("26.3", "d7193f7c8e4e93f444fde0262bf90af30e16fa0ad0ad44cb553c87339b23cd1c"),
    "pygments": Pin("2.21.0", "2363c69b61c4a97c838da3b130dcd6468f4848992b21a82f2a63ec34377137d9"),
    "tblib": Pin("3.2.2", "26bdccf339bcce6a88b2b5432c988b266ebbe63a4e593f6b578b1d2e723d2b76"),
}

# A requirement whose marker only names an extra: nothing installs extras inside Pyodide, so it never applies.
EXTRA_ONLY_MARKER: Final = re.compile(r"""^\s*extra\s*==\s*(['"])[^'"]+\1\s*$""")
REQUIREMENT_NAME: Final = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class DistError(Exception):
    """A problem with the inputs that the user has to fix; reported without a traceback."""


def normalizeName(name: str) -> str:
    """A project name in the form pip and ``pyodide-lock.json`` use as a key (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256Of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Wheel:
    """What a lock entry needs to know about a wheel, read from the file itself."""

    path: Path
    name: str
    version: str
    imports: tuple[str, ...]
    requires: tuple[str, ...]
    """Normalized names of the requirements that apply whatever the environment (no marker)."""
    conditionalRequires: tuple[str, ...]
    """Normalized names of the requirements with an environment marker other than an extra."""

    @property
    def key(self) -> str:
        return normalizeName(self.name)


def readWheel(path: Path) -> Wheel:
    """Read name, version, requirements and top-level import names from a wheel."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        metadataPaths = [name for name in names if re.fullmatch(r"[^/]+\.dist-info/METADATA", name)]
        if len(metadataPaths) != 1:
            raise DistError(f"{path.name}: expected one .dist-info/METADATA, found {len(metadataPaths)}")
        metadata = HeaderParser().parsestr(archive.read(metadataPaths[0]).decode("utf-8"))
    requires: list[str] = []
    conditionalRequires: list[str] = []
    for requirement in metadata.get_all("Requires-Dist") or []:
        specification, _, marker = requirement.partition(";")
        match = REQUIREMENT_NAME.match(specification)
        if match is None:
            raise DistError(f"{path.name}: cannot read the requirement {requirement!r}")
        if not marker.strip():
            requires.append(normalizeName(match.group(1)))
        elif not appliesOnlyWithAnExtra(marker):
            conditionalRequires.append(normalizeName(match.group(1)))
    return Wheel(
        path=path,
        name=metadata["Name"],
        version=metadata["Version"],
        imports=topLevelImports(names),
        requires=tuple(requires),
        conditionalRequires=tuple(conditionalRequires),
    )


def appliesOnlyWithAnExtra(marker: str) -> bool:
    """Whether a requirement's marker holds only when an extra is asked for: ``extra == 'x'``, alone or and-ed.

    ``(sys_platform == 'linux') and extra == 'dev'`` is such a marker; ``a or extra == 'dev'`` is not. Parenthesized
    groups are set aside first, as ``and`` binds tighter than ``or``.
    """
    topLevel = marker
    while (inner := re.sub(r"\([^()]*\)", "", topLevel)) != topLevel:
        topLevel = inner
    return bool(EXTRA_ONLY_MARKER.match(marker)) or (
        re.search(r"\bextra\s*==", topLevel) is not None and re.search(r"\bor\b", topLevel) is None
    )


def topLevelImports(names: list[str]) -> tuple[str, ...]:
    """The names a wheel makes importable: its top-level packages and modules (``wrapt-stubs`` and such are not)."""
    imports: set[str] = set()
    for name in names:
        top, _, rest = name.partition("/")
        if top.endswith((".dist-info", ".data")):
            continue
        if rest and rest.endswith((".py", ".so")):
            imports.add(top)
        elif not rest and top.endswith((".py", ".so")):
            imports.add(top.split(".")[0])
    return tuple(sorted(name for name in imports if name.isidentifier()))


def wheelKey(path: Path) -> tuple[str, str]:
    """(normalized name, version) from a wheel's file name, as in ``Pygments-2.19.1-py3-none-any.whl``."""
    name, version, *_ = path.name.split("-")
    return normalizeName(name), version


def lockPythonVersion(lock: dict[str, object]) -> str:
    """``3.14`` for a lock whose ``info.python`` is ``3.14.0``: the Python pip must pick wheels for (not the host's)."""
    info = lock.get("info")
    python = info.get("python") if isinstance(info, dict) else None
    match = re.fullmatch(r"(3\.\d+)(\.\d+)?", str(python))
    if match is None:
        raise DistError(f"{LOCK_FILE} names no Python version in info.python (found {python!r})")
    return match.group(1)


def downloadPinnedWheels(cache: Path, pythonVersion: str) -> list[Path]:
    """The pinned wheels in ``cache``, calling pip once for those missing; each file is checked against its pin.

    pip picks the wheels for ``pythonVersion``, the interpreter inside Pyodide, not for the one running this script.
    """
    cache.mkdir(parents=True, exist_ok=True)
    cached = {wheelKey(path): path for path in cache.glob("*.whl")}
    missing = [f"{name}=={pin.version}" for name, pin in PINNED_WHEELS.items() if (name, pin.version) not in cached]
    if missing:
        print(f"downloading {len(missing)} wheel(s) into {cache}: {' '.join(missing)}", flush=True)
        subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check"),
                *("--no-deps", "--only-binary=:all:", "--platform", "any", "--implementation", "py"),
                *("--python-version", pythonVersion, "--dest", str(cache)),
                *missing,
            ],
            check=True,
        )
        cached = {wheelKey(path): path for path in cache.glob("*.whl")}
    else:
        print(f"all {len(PINNED_WHEELS)} pinned wheels already in {cache}: nothing to download")
    paths: list[Path] = []
    for name, pin in PINNED_WHEELS.items():
        path = cached.get((name, pin.version))
        if path is None:
            raise DistError(f"pip did not leave a wheel of {name}=={pin.version} in {cache}")
        if (actual := sha256Of(path)) != pin.sha256:
            raise DistError(f"{path} has sha256 {actual}, pinned {pin.sha256}: delete it to download it again")
        paths.append(path)
    return paths


def dependsOf(wheel: Wheel) -> tuple[str, ...]:
    """The packages ``loadPackage`` must load before this wheel, checked against the wheel's own requirements."""
    pin = PINNED_WHEELS.get(wheel.key)
    if pin is None and wheel.conditionalRequires:
        # Without ``packaging`` the script cannot evaluate markers, so a wheel of ours must not need it to.
        raise DistError(f"{wheel.path.name}: requirements with environment markers are not supported here")
    depends = pin.depends if pin is not None else wheel.requires
    if undeclared := sorted(set(wheel.requires) - set(depends)):
        raise DistError(f"{wheel.path.name} requires {', '.join(undeclared)}: add it to the pin's depends")
    return tuple(sorted(depends))


def lockEntry(wheel: Wheel) -> dict[str, object]:
    """The ``pyodide-lock.json`` entry that lets ``loadPackage`` install the wheel from the folder."""
    return {
        "name": wheel.name,
        "version": wheel.version,
        "file_name": wheel.path.name,
        "install_dir": "site",
        "sha256": sha256Of(wheel.path),
        "package_type": "package",
        "imports": list(wheel.imports),
        "depends": list(dependsOf(wheel)),
        "unvendored_tests": False,
        "shared_library": False,
    }


def copyIfChanged(source: Path, destination: Path) -> None:
    """Copy unless ``destination`` already has the same size and modification time, as a previous run leaves it."""
    if destination.exists():
        sourceStat, destinationStat = source.stat(), destination.stat()
        if (sourceStat.st_size, sourceStat.st_mtime_ns) == (destinationStat.st_size, destinationStat.st_mtime_ns):
            return
    shutil.copy2(source, destination)


def writeIfChanged(path: Path, text: str) -> None:
    """Write ``text`` atomically, leaving the file untouched when it already holds it."""
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def build(pyodide: Path, wheelsDir: Path, out: Path, cache: Path) -> None:
    for name in (*CORE_FILES, LOCK_FILE):
        if not (pyodide / name).is_file():
            raise DistError(f"{pyodide / name} is missing: is {pyodide} the npm package pyodide (run npm ci)?")
    loaders = [name for name in LOADER_FILES if (pyodide / name).is_file()]
    if not loaders:
        raise DistError(f"{pyodide} has neither {' nor '.join(LOADER_FILES)}: is it the npm package pyodide?")
    ownWheels = sorted(wheelsDir.glob("*.whl"))
    if not ownWheels:
        raise DistError(f"no wheels in {wheelsDir}: build them first (make wheels)")
    lock = json.loads((pyodide / LOCK_FILE).read_text(encoding="utf-8"))

    wheels = [readWheel(path) for path in (*downloadPinnedWheels(cache, lockPythonVersion(lock)), *ownWheels)]
    keys = [wheel.key for wheel in wheels]
    if duplicates := sorted({key for key in keys if keys.count(key) > 1}):
        raise DistError(f"more than one wheel of {', '.join(duplicates)} in {cache} and {wheelsDir}")

    out.mkdir(parents=True, exist_ok=True)
    for loader in LOADER_FILES:
        if loader not in loaders and (out / loader).exists():
            (out / loader).unlink()  # left by a build from another Pyodide release
    for name in (*CORE_FILES, *loaders):
        copyIfChanged(pyodide / name, out / name)
    keep = {wheel.path.name for wheel in wheels}
    for stale in out.glob("*.whl"):
        if stale.name not in keep:
            stale.unlink()
    for wheel in wheels:
        copyIfChanged(wheel.path, out / wheel.path.name)

    packages: dict[str, object] = lock["packages"]
    for wheel in wheels:
        packages[wheel.key] = lockEntry(wheel)
    for wheel in wheels:
        if unknown := [name for name in dependsOf(wheel) if name not in packages]:
            raise DistError(f"{wheel.name} depends on {', '.join(unknown)}, which is not in the lock")
    lock["packages"] = dict(sorted(packages.items()))
    writeIfChanged(out / LOCK_FILE, json.dumps(lock) + "\n")
    release = json.loads((pyodide / "package.json").read_text(encoding="utf-8")).get("version", "?")
    print(f"{out}: Pyodide {release} from {pyodide} with {', '.join(f'{w.name} {w.version}' for w in wheels)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pyodide", type=Path, required=True, help="the npm package pyodide (node_modules/pyodide)")
    parser.add_argument("--wheels", type=Path, required=True, help="a folder of the project's own wheels to add")
    parser.add_argument("--out", type=Path, required=True, help="the folder to assemble")
    parser.add_argument("--cache", type=Path, default=Path("build/downloads"), help="where pip's downloads are kept")
    arguments = parser.parse_args(argv)
    try:
        build(arguments.pyodide, arguments.wheels, arguments.out, arguments.cache)
    except (DistError, subprocess.CalledProcessError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
