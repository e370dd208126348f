"""A static file server for PyScript pages: the repository root, or any folder (``--dir``), served from 127.0.0.1.

PyScript workers need ``SharedArrayBuffer`` for synchronous calls, and browsers only grant it to cross-origin isolated
pages, so the server sends the COOP/COEP headers by default. ``isolated=False`` serves without them, like hosting that
cannot set headers (GitHub Pages). Files go out with the MIME types PyScript and Pyodide need (``.mjs`` and ``.js`` as
JavaScript, ``.wasm`` as ``application/wasm`` for streaming compilation, ``.toml``, ``.py``, ``.whl``...). Serving the
repository, ``/`` redirects to ``/examples/``; serving another folder, ``/`` is that folder's ``index.html``.

From a shell: ``make serve`` (the repository), ``make serve DIR=path/to/site`` (any folder; ``PORT=`` another port), or
``python tools/devserver.py --dir path/to/site --port 8000``.
"""

from __future__ import annotations

import argparse
import functools
import sys
import threading
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

REPOSITORY = Path(__file__).resolve().parent.parent

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class PageRequestHandler(SimpleHTTPRequestHandler):
    """Serves files with the right MIME types, no caching, and optionally the cross-origin isolation headers."""

    isolated: ClassVar[bool] = True
    extensions_map: ClassVar[dict[str, str]] = {  # type: ignore[misc]
        **SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "text/javascript",
        ".js": "text/javascript",
        ".wasm": "application/wasm",
        ".toml": "text/plain",
        ".py": "text/plain",
        ".whl": "application/zip",
        ".zip": "application/zip",
        ".json": "application/json",
        ".map": "application/json",
        ".css": "text/css",
        ".html": "text/html",
    }
    redirectRoot: ClassVar[str | None] = "/examples/"
    """Where ``/`` redirects (the repository's examples), or ``None`` to serve the folder's ``index.html``."""

    def do_GET(self) -> None:
        if self.path == "/" and self.redirectRoot is not None:
            self.send_response(HTTPStatus.FOUND)
            self.send_header("Location", self.redirectRoot)
            self.end_headers()
            return
        if self.path == "/favicon.ico":
            # Browsers ask for it on every page; a 404 would be noise in every test's console.
            self.send_response(HTTPStatus.NO_CONTENT)
            self.end_headers()
            return
        super().do_GET()

    def end_headers(self) -> None:
        if self.isolated:
            for name, value in ISOLATION_HEADERS.items():
                self.send_header(name, value)
        # Tests rebuild wheels and pages between runs; a cached copy would test stale code.
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per file would bury the test output


class DevServer:
    """A running server on a background thread; use as a context manager or call ``start``/``stop``."""

    def __init__(self, *, port: int = 0, isolated: bool = True, root: Path = REPOSITORY) -> None:
        if not root.is_dir():
            raise NotADirectoryError(f"cannot serve {root}: it is not a folder; give the folder that holds your page")
        redirect = "/examples/" if root.resolve() == REPOSITORY else None
        handler = type("Handler", (PageRequestHandler,), {"isolated": isolated, "redirectRoot": redirect})
        self.root = root
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), functools.partial(handler, directory=str(root)))
        self.isolated = isolated
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="devserver", daemon=True)

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:PORT``, the base for page URLs."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> DevServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    parser.add_argument("--dir", type=Path, default=REPOSITORY, help="the folder to serve (default: the repository)")
    parser.add_argument("--no-isolation", action="store_true", help="omit the COOP/COEP headers")
    options = parser.parse_args(argv)
    try:
        server = DevServer(port=options.port, isolated=not options.no_isolation, root=options.dir)
    except NotADirectoryError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # most often the port is taken
        print(
            f"error: cannot listen on 127.0.0.1:{options.port} ({error.strerror or error}): "
            "pick another port with --port (make serve PORT=...)",
            file=sys.stderr,
        )
        return 1
    where = f" (examples at {server.origin}/examples/)" if options.dir.resolve() == REPOSITORY else ""
    headers = "with" if server.isolated else "without"
    print(f"serving {options.dir.resolve()} at {server.origin}/{where} {headers} COOP/COEP; Ctrl-C stops", flush=True)
    try:
        server.httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
