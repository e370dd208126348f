"""Imported by the main thread only: registers the adapter for values_shared.Token, which the worker lacks."""

from values_shared import Token

from workerlib import adapter

adapter(Token, encode=lambda token: token.text, decode=Token)
