"""A raw PyScript worker without workerlib: connect() must report it, not hang on it."""


def ping():
    return "raw"


__export__ = ["ping"]
