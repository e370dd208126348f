"""The distribution as a user gets it: sdist and wheel built from this tree carry ``py.typed``, the wheel installs into
a fresh CPython venv offline (wrapt from its pure wheel) and imports as ``workerlib``, and mypy reads its types there;
``make dist``'s remote package file names workerlib's wheel and its requirements."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest

from tools import build_package_file
from tools.build_pyodide_dist import DistError
from workerlib._version import DISTRIBUTION

REPOSITORY = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))["project"]
WHEELS = REPOSITORY / "build" / "wheels"


def cleanEnvironment() -> dict[str, str]:
    """This process's environment without what would make a child import workerlib from the source tree."""
    return {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME", "MYPYPATH"}}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist and the wheel, built from this tree by the project's build backend (no network: hatchling is here)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "hatchling", "build", "-t", "sdist", "-t", "wheel", "-d", str(out)],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
    )
    stem = f"pyscript_workerlib-{PROJECT['version']}"
    return {"sdist": out / f"{stem}.tar.gz", "wheel": out / f"{stem}-py3-none-any.whl"}


def test_the_distribution_is_pyscript_workerlib() -> None:
    assert PROJECT["name"] == DISTRIBUTION == "pyscript-workerlib"
    assert "Typing :: Typed" in PROJECT["classifiers"]


def test_sdist_and_wheel_carry_py_typed(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
    assert "workerlib/py.typed" in names
    assert "workerlib/__init__.py" in names
    with tarfile.open(built["sdist"]) as sdist:
        members = set(sdist.getnames())
    root = built["sdist"].name.removesuffix(".tar.gz")
    assert f"{root}/workerlib/py.typed" in members
    # Only the package, README and pyproject: nothing from tests/ or tools/ leaks into what PyPI would serve.
    assert {member.split("/")[1] for member in members if "/" in member} <= {
        "workerlib",
        "README.md",
        "pyproject.toml",
        "PKG-INFO",
        ".gitignore",
    }


def test_the_wheel_installs_and_imports_in_a_fresh_venv(built: dict[str, Path], tmp_path: Path) -> None:
    wrapt = sorted(WHEELS.glob("wrapt-*-py3-none-any.whl"))
    assert wrapt, f"no wrapt wheel in {WHEELS}: run 'make wheels' (it downloads wrapt's pure wheel)"
    environment = tmp_path / "venv"
    try:
        venv.EnvBuilder(with_pip=True).create(environment)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"skipping: cannot make a fresh venv here ({error})")
        pytest.skip(f"cannot make a fresh venv here: {error}")
    python = environment / "bin" / "python"
    subprocess.run(
        [
            *(str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"),
            *("--no-index", "--find-links", str(wrapt[-1].parent), str(built["wheel"])),
        ],
        check=True,
        env=cleanEnvironment(),
        cwd=tmp_path,
    )
    probe = (
        "import importlib.metadata, json, pathlib, workerlib, wrapt\n"
        "print(json.dumps({'file': workerlib.__file__, 'version': workerlib.__version__,\n"
        "    'metadata': importlib.metadata.version('pyscript-workerlib'),\n"
        "    'requires': importlib.metadata.requires('pyscript-workerlib'),\n"
        "    'typed': (pathlib.Path(workerlib.__file__).parent / 'py.typed').is_file(),\n"
        "    'service': workerlib.WorkerService.__name__}))\n"
    )
    seen = json.loads(
        subprocess.run(
            [str(python), "-c", probe], check=True, capture_output=True, text=True, env=cleanEnvironment(), cwd=tmp_path
        ).stdout
    )
    assert Path(seen["file"]).is_relative_to(environment), "imported from the venv, not from the source tree"
    assert seen["version"] == seen["metadata"] == PROJECT["version"]
    assert seen["typed"] is True
    assert seen["service"] == "WorkerService"
    assert "wrapt==2.5.2" in seen["requires"]
    # py.typed is what lets a type checker use the installed package instead of reporting missing stubs.
    checked = subprocess.run(
        [
            *(sys.executable, "-m", "mypy", "--no-incremental", "--strict", "--python-executable", str(python)),
            *("-c", "import workerlib\nreveal_type(workerlib.WorkerService.connect)\n"),
        ],
        capture_output=True,
        text=True,
        env=cleanEnvironment(),
        cwd=tmp_path,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert 'Revealed type is "def (workerName: str | None =' in checked.stdout, checked.stdout


def fakeWheel(folder: Path, name: str, version: str, requires: list[str]) -> Path:
    """A minimal wheel: one package and a METADATA naming the distribution and its requirements."""
    path = folder / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        package = "workerlib" if name == DISTRIBUTION else name
        archive.writestr(f"{package}/__init__.py", "")
        lines = ["Metadata-Version: 2.4", f"Name: {name}", f"Version: {version}"]
        lines += [f"Requires-Dist: {requirement}" for requirement in requires]
        archive.writestr(f"{name.replace('-', '_')}-{version}.dist-info/METADATA", "\n".join(lines) + "\n")
    return path


def test_the_package_file_names_workerlib_and_its_requirements(tmp_path: Path) -> None:
    own = fakeWheel(tmp_path, DISTRIBUTION, "0.1.0", ["wrapt==2.5.2", "beartype==0.23.1; extra == 'typecheck'"])
    wrapt = fakeWheel(tmp_path, "wrapt", "2.5.2", [])
    out = tmp_path / "site"
    written = build_package_file.build([own, wrapt], out)
    package = tomllib.loads(written.read_text(encoding="utf-8"))
    assert package == {
        "name": "workerlib",
        "files": {"./pyscript_workerlib-0.1.0-py3-none-any.whl": "./*", "./wrapt-2.5.2-py3-none-any.whl": "./*"},
    }
    assert sorted(path.name for path in out.iterdir()) == sorted([own.name, wrapt.name, "workerlib.toml"])


def test_the_package_file_refuses_a_missing_requirement(tmp_path: Path) -> None:
    own = fakeWheel(tmp_path, DISTRIBUTION, "0.1.0", ["wrapt==2.5.2"])
    with pytest.raises(DistError, match=r"requires wrapt: pass its pure-Python wheel too"):
        build_package_file.build([own], tmp_path / "site")


def test_the_package_file_refuses_a_wheel_workerlib_does_not_need(tmp_path: Path) -> None:
    own = fakeWheel(tmp_path, DISTRIBUTION, "0.1.0", [])
    other = fakeWheel(tmp_path, "beartype", "0.23.1", [])
    with pytest.raises(DistError, match=r"does not require beartype: leave its wheel out"):
        build_package_file.build([own, other], tmp_path / "site")
