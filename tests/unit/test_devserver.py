"""The dev server (tools/devserver.py, ``make serve DIR=path``) serves any folder with the headers and MIME types a
PyScript page needs: COOP/COEP (cross-origin isolation, for workers' ``SharedArrayBuffer``), JavaScript modules,
WebAssembly, configs, Python files and wheels."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

import pytest

from tools.devserver import REPOSITORY, DevServer, main

# What each kind of file must be sent as. Browsers refuse a module script that is not JavaScript, and
# WebAssembly.instantiateStreaming (Pyodide's fast path) refuses anything but application/wasm.
EXPECTED_TYPES = {
    "core.js": "text/javascript",
    "pyodide.mjs": "text/javascript",
    "pyodide.asm.wasm": "application/wasm",
    "main.toml": "text/plain",
    "main.py": "text/plain",
    "pyscript_workerlib-0.1.0-py3-none-any.whl": "application/zip",
    "python_stdlib.zip": "application/zip",
    "pyodide-lock.json": "application/json",
    "index.html": "text/html",
    "core.css": "text/css",
}
ISOLATION = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


@pytest.fixture
def site(tmp_path: Path) -> Path:
    folder = tmp_path / "my site"
    (folder / "lib").mkdir(parents=True)
    for name in EXPECTED_TYPES:
        (folder / "lib" / name).write_bytes(name.encode())
    (folder / "index.html").write_text("<!doctype html><title>mine</title>")
    return folder


def fetch(url: str) -> tuple[int, Message, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers, response.read()


@pytest.mark.parametrize("name", list(EXPECTED_TYPES))
def test_a_folder_is_served_with_isolation_headers_and_mime_types(site: Path, name: str) -> None:
    with DevServer(root=site) as server:
        status, headers, body = fetch(f"{server.origin}/lib/{name}")
    assert status == 200
    assert body == name.encode()
    assert headers.get_content_type() == EXPECTED_TYPES[name]
    assert {header: headers[header] for header in ISOLATION} == ISOLATION
    assert headers["Cache-Control"] == "no-store"


def test_the_root_of_another_folder_is_its_index_page(site: Path) -> None:
    with DevServer(root=site) as server:
        status, headers, body = fetch(f"{server.origin}/")
    assert (status, headers.get_content_type(), body) == (200, "text/html", b"<!doctype html><title>mine</title>")


def test_the_repository_root_still_redirects_to_the_examples() -> None:
    with DevServer() as server, urllib.request.urlopen(f"{server.origin}/", timeout=10) as response:
        landed = response.url  # urllib follows the redirect
    assert response.status == 200
    assert landed == f"{server.origin}/examples/"


def test_without_isolation_the_headers_are_left_out(site: Path) -> None:
    with DevServer(root=site, isolated=False) as server:
        _, headers, _ = fetch(f"{server.origin}/lib/pyodide.mjs")
    assert headers.get_content_type() == "text/javascript"
    assert not [header for header in ISOLATION if header in headers]


def test_a_missing_folder_is_refused_with_what_to_give(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--dir", str(tmp_path / "nowhere"), "--port", "0"]) == 1
    error = capsys.readouterr().err
    assert f"cannot serve {tmp_path / 'nowhere'}: it is not a folder" in error


def test_the_command_line_serves_the_folder_it_is_given(site: Path) -> None:
    # What `make serve DIR=...` runs; port 0 lets the system pick, and the server prints its address first.
    process = subprocess.Popen(
        [sys.executable, str(REPOSITORY / "tools" / "devserver.py"), "--dir", str(site), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # blocks until the server listens and says where
        assert f"serving {site.resolve()} at http://127.0.0.1:" in line, line + (
            process.stderr.read() if process.stderr else ""
        )
        origin = line.split(" at ", 1)[1].split("/ ", 1)[0]
        status, headers, body = fetch(f"{origin}/lib/pyodide.asm.wasm")
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert (status, headers.get_content_type(), body) == (200, "application/wasm", b"pyodide.asm.wasm")
    assert headers["Cross-Origin-Embedder-Policy"] == "require-corp"


def test_a_taken_port_is_reported_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    with DevServer() as server:
        port = server.origin.rsplit(":", 1)[1]
        assert main(["--port", port]) == 1
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_a_missing_file_is_a_404(site: Path) -> None:
    with DevServer(root=site) as server, pytest.raises(urllib.error.HTTPError) as missing:
        fetch(f"{server.origin}/lib/nothing.mjs")
    assert missing.value.code == 404
