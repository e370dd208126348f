"""Worker side of the diagnostics page: reports what it detects, logs on request, and serves checked methods."""

import logging

from workerlib import LOGGER_NAME, WorkerService, diagnostics, enableLogging, systemVersions


class Diagnostics(WorkerService):
    """What the worker sees, and a way to switch its logging on."""

    def report(self) -> dict[str, object]:
        # The lazy views do not cross as they are: send plain copies.
        return {"versions": dict(systemVersions), "lines": list(diagnostics)}

    def startLogging(self) -> int:
        enableLogging()
        enableLogging()  # a second call must not add a second handler
        return len(logging.getLogger(LOGGER_NAME).handlers)

    def log(self, text: str) -> None:
        logging.getLogger(f"{LOGGER_NAME}.page").warning(text)
        logging.getLogger(f"{LOGGER_NAME}.page").debug(text)


class Checked(WorkerService, typechecked=True):
    """Each call is checked against the annotations, in the worker."""

    def scale(self, factor: int, label: str) -> str:
        return label * factor

    async def later(self, count: int) -> list[int]:
        return list(range(count))

    def broken(self) -> int:
        return "not an int"  # type: ignore[return-value]


class Unchecked(WorkerService):
    """The same method without the opt-in: nothing checks it."""

    def scale(self, factor: int, label: str) -> str:
        return f"{label!r} * {factor!r}"
