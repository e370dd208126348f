"""A worker that dies while loading: the harness must fail fast with this traceback, not time out."""


def loadSettings():
    raise LookupError("settings table 'harness-probe' is missing")


loadSettings()
