"""Imported by the worker only: registers the adapter for values_shared.Secret, which the main thread lacks."""

from values_shared import Secret

from workerlib import adapter

adapter(Secret, encode=lambda secret: secret.text, decode=Secret)
