"""Workers 'text' and 'text2' run this file; the main thread imports it too, which must not serve anything there."""

import uuid

from workerlib import WorkerService

WORKER_TOKEN = uuid.uuid4().hex


class TextTools(WorkerService):
    """Text helpers."""

    def shout(self, text: str) -> str:
        """Upper-case ``text``."""
        return text.upper() + "!"

    def where(self) -> str:
        """This worker's identity: a token drawn when the worker started, different in 'text' and 'text2'."""
        return WORKER_TOKEN
