"""Which methods of a service class are public, and so callable from the main thread."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache
from typing import Any


@cache
def publicMethods(service: type, base: type) -> dict[str, Callable[..., Any]]:
    """The service's public methods (no leading underscore), inherited ones included, up to ``base``.

    Cached: classes are complete once defined, and every call looks its method up here. Do not mutate the result.
    """
    found: dict[str, Callable[..., Any]] = {}
    for cls in reversed(service.__mro__):
        if cls is object or issubclass(base, cls):
            continue
        for name, member in vars(cls).items():
            if name.startswith("_"):
                continue
            if inspect.isfunction(member):
                found[name] = member
            elif name in found:
                del found[name]  # overridden by something that is not a method
    return found
