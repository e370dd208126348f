"""``WorkerService`` and the wiring on top: serving in a worker, ``connect``, ``spawn`` and ``export``.

In a worker, defining a service class (or calling :func:`export`) starts accepting channels from the main thread
(:func:`workerlib.workers.acceptPorts`) and serves each with a :class:`workerlib.server.Session`. On the main thread,
connecting finds the worker, opens one channel to it on first use (:func:`workerlib.workers.openChannel`), shares
that :class:`workerlib.client.Link` between every client of the worker, and watches the worker's life.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from . import ports, server, workers
from ._runtime import Context, context
from .errors import ConfigError, ConnectError
from .methods import publicMethods
from .protocol import Description

if TYPE_CHECKING:
    # The main thread's side is imported where it runs (connect, spawn, pool): a worker that only serves never loads
    # clients, pools or wrapt, a sixth of its start in Pyodide.
    from . import client, pool
    from .client import Link

CLIENT_NAMES = frozenset({"close", "map", "timeout", "worker", "workerName"})
"""A client's own public attributes (``workerlib.client.CLIENT_NAMES``, which a test ties to this one): written out
here so that defining a service in a worker does not import the client module."""

RESERVED_NAMES = CLIENT_NAMES | {"connect", "spawn", "pool"}
"""Names a service may not use for public members: its clients (and the service class itself) need them."""


class WorkerService:
    """Base class of services that run in a worker and are called from the main thread.

    In a worker, defining a subclass is all it takes to serve it: its public methods (no leading underscore), sync or
    ``async``, become callable from the main thread. The worker makes one instance per service class, on the first
    call. Importing the same file on the main thread defines the class without serving anything there.

    On the main thread, ``client = await Service.connect()`` returns a client whose methods have the same names,
    signatures, docstrings and annotations as the service's, and return awaitables of the worker's results.

    An interface class may live in a module both sides import, with its implementation in a subclass defined in the
    worker: connecting with the interface class reaches the implementation.
    """

    _typechecked = False

    def __init_subclass__(cls, *, typechecked: bool | None = None, **kwargs: Any) -> None:
        """``class Service(WorkerService, typechecked=True)`` checks each call's arguments in the worker.

        The check (beartype's, see :func:`~workerlib.typechecked`) runs against the method's annotations before the
        method does; a violation is raised in the worker and re-raised on the main thread. Subclasses inherit the
        setting. Without beartype installed it checks nothing.
        """
        super().__init_subclass__(**kwargs)
        if typechecked is not None:
            cls._typechecked = bool(typechecked)
        # Every public method, inherited ones included (a mixin's close() would hide the client's just the same).
        service: type = cls  # publicMethods is cached: mypy does not see a class as hashable
        clashes = sorted(set(publicMethods(service, WorkerService)) & RESERVED_NAMES)
        if clashes:
            raise TypeError(
                f"{cls.__qualname__} defines {', '.join(clashes)}: these names belong to the client "
                f"that calls the service; rename the method"
            )
        if context() is Context.WORKER:
            server.table.addClass(cls, WorkerService)
            _serve()

    @classmethod
    async def connect(
        cls, workerName: str | None = None, *, timeout: float | None = None
    ) -> client.ServiceClient[Self]:
        """Connect to the worker that serves this service and return a client for it.

        With no ``workerName``, the page must have exactly one named worker serving this class (or a subclass of it);
        otherwise :class:`~workerlib.ConnectError` lists the workers found and what each serves. With a name, that
        worker must serve it. A worker still loading is waited for.

        ``timeout`` (seconds) bounds connecting and is every call's default deadline: a call not answered in time
        raises ``TimeoutError``. One call can override it with ``client.method(...).withTimeout(seconds)``.
        """
        _checkTimeout(timeout)
        qualname = cls.__qualname__
        link, _ = await _findWorker(f"service {qualname}", lambda found: found.serves(qualname), workerName, timeout)
        from .client import Connection, clientClass

        return clientClass(cls, WorkerService)(Connection(link, timeout=timeout))

    @classmethod
    async def spawn(
        cls,
        src: str,
        *,
        name: str | None = None,
        config: dict[str, Any] | str | None = None,
        timeout: float | None = None,
    ) -> client.ServiceClient[Self]:
        """Start a new named worker running the Python file at ``src`` and connect to this service in it.

        ``name`` defaults to a fresh ``<ClassName>-<n>``. ``config`` (a dict, its paths relative to the page, or a
        config file's URL) defaults to the main thread's own config, so the worker gets the same interpreter and
        files. Closing the client stops the worker.
        ``timeout`` is as for :meth:`connect`; starting the worker is not bounded by it.
        """
        _checkTimeout(timeout)
        if name is None:
            taken = set(workers.namedWorkers())
            name = next(f"{cls.__name__}-{n}" for n in _spawned if f"{cls.__name__}-{n}" not in taken)
        elif name in workers.namedWorkers():
            raise ConnectError(f"a worker named {name!r} already exists on this page; choose another name")
        if config is None:
            config = workers.mainConfig()  # as PyScript passes it: the main thread's own, whose file it uses anyway
        elif isinstance(config, dict):
            config = workers.configFile(config)  # a dict of its own must reach the worker as a file's URL
        worker = await workers.createWorker(src, name, config)
        try:
            link, description = await _linkTo(name, worker, timeout)
            if not description.serves(cls.__qualname__):
                raise ConnectError(
                    f"worker {name!r} started from {src!r} does not serve service {cls.__qualname__}; "
                    f"it serves {_summary(description)}"
                )
        except BaseException:
            workers.terminate(name)
            _links.pop(name, None)
            raise

        def stop() -> None:
            link.terminate("was closed with the client that spawned it")

        from .client import Connection, clientClass

        return clientClass(cls, WorkerService)(Connection(link, timeout=timeout, onClose=stop))

    @classmethod
    async def pool(
        cls,
        n: int,
        src: str,
        *,
        maxSize: int | None = None,
        idleTimeout: float | None = None,
        maxQueue: int | None = None,
        config: dict[str, Any] | str | None = None,
        timeout: float | None = None,
    ) -> pool.Pool[Self]:
        """Start ``n`` workers running the Python file at ``src``, all at once, and return a :class:`~workerlib.Pool`.

        Each worker is started as :meth:`spawn` starts one (``config`` and ``timeout`` mean the same; the timeout
        bounds each call once a worker takes it). The pool has the service's methods, like a client: a call goes to
        the first worker that is free, waiting in the pool's queue while all are busy. The ``n`` workers stay; with
        ``maxSize``, the pool starts more workers (up to ``maxSize``, in parallel) while calls wait, and stops those
        above ``n`` once idle for ``idleTimeout`` seconds (``None``: they stay). With ``maxQueue``, at most that many
        calls wait in the queue: a call made while it is full waits to enter it, and ``map``/``imap`` read no more
        items meanwhile. A worker that dies fails its running call with :class:`~workerlib.WorkerClosedError` and is
        replaced. ``await pool.close()``, or ``async with await Service.pool(...) as pool:``, stops every worker.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"a pool needs at least one worker: n must be a positive int, got {n!r}")
        if maxSize is not None and (isinstance(maxSize, bool) or not isinstance(maxSize, int) or maxSize < n):
            raise ValueError(f"maxSize must be an int no smaller than n ({n}), or None; got {maxSize!r}")
        if idleTimeout is not None and (
            isinstance(idleTimeout, bool) or not isinstance(idleTimeout, (int, float)) or not idleTimeout > 0
        ):
            raise ValueError(f"idleTimeout must be a positive number of seconds or None, got {idleTimeout!r}")
        if maxQueue is not None and (isinstance(maxQueue, bool) or not isinstance(maxQueue, int) or maxQueue < 0):
            raise ValueError(f"maxQueue must be an int of 0 or more, or None; got {maxQueue!r}")
        _checkTimeout(timeout)
        from .pool import poolClass

        made = poolClass(cls, WorkerService)(
            n,
            lambda: cls.spawn(src, config=config, timeout=timeout),
            timeout,
            maxSize=maxSize,
            idleTimeout=idleTimeout,
            maxQueue=maxQueue,
        )
        await made._start()
        return made


_spawned = itertools.count(1)


def export(*functions: Callable[..., Any]) -> None:
    """In a worker: make plain functions callable from the main thread through ``connectToWorker``.

    Elsewhere (the main thread importing a worker's file) it does nothing.
    """
    if context() is not Context.WORKER:
        return
    for function in functions:
        server.table.addFunction(function)
    _serve()


def exportFrom(module: str, *names: str) -> None:
    """In a worker: export the functions ``names`` of the module named ``module``, unchanged, for ``connectToWorker``.

    The counterpart of the original workerlib's ``[exports]`` config section (its "Option #1"): point the worker's
    ``src`` at a file of one line per module, and leave the modules as they are::

        from workerlib import exportFrom

        exportFrom("YourModule1", "func1", "func2")
        exportFrom("YourModule2", "func3")

    The module is imported as usual (list its file in the worker config's ``[files]``); each function is exported
    under the name given, sync or ``async``. A module that cannot be found raises ``ImportError``, a missing name
    ``AttributeError``, a name that is not callable ``TypeError``, and a name another function is already exported
    under ``ValueError``, each saying what to change. Elsewhere (the main thread importing the file) it does nothing.
    """
    if context() is not Context.WORKER:
        return
    for name, function in exportable(module, names, server.table.functions).items():
        server.table.addFunction(function, name)
    _serve()


def exportable(
    module: str, names: Sequence[str], exported: Mapping[str, Callable[..., Any]]
) -> dict[str, Callable[..., Any]]:
    """What :func:`exportFrom` exports: ``{name: module.name}`` for each name, checked; ``exported`` is what the worker
    exports already (a name may be given again only for the same function)."""
    call = f"exportFrom({module!r}{''.join(f', {name!r}' for name in names)})"
    if not isinstance(module, str) or not module:
        raise TypeError(f"{call}: the module must be given by its name, a non-empty str such as 'YourModule1'")
    if not names:
        raise ValueError(f"{call}: name the functions to export after the module, e.g. exportFrom({module!r}, 'f')")
    wrong = [name for name in names if not isinstance(name, str) or not name.isidentifier()]
    if wrong:
        raise TypeError(f"{call}: functions are given by their names (str), got {', '.join(map(repr, wrong))}")
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is None or not (module == error.name or module.startswith(f"{error.name}.")):
            raise  # the module was found but itself imports something missing: its own traceback says what
        raise ImportError(
            f"{call}: there is no module {module!r} in this worker; list its file in the worker's config, "
            f'[files] "./{module.replace(".", "/")}.py" = "" (or install its package with packages = [...])'
        ) from error
    chosen: dict[str, Callable[..., Any]] = {}
    for name in names:
        function = getattr(found, name, _MISSING)
        if function is _MISSING:
            offered = sorted(key for key, value in vars(found).items() if callable(value) and not key.startswith("_"))
            raise AttributeError(
                f"{call}: module {module!r} has no {name!r}; its functions are {', '.join(offered) or 'none'}"
            )
        if not callable(function):
            raise TypeError(f"{call}: {module}.{name} is a {type(function).__name__}, not a function to export")
        previous = exported.get(name, chosen.get(name))
        if previous is not None and previous is not function:
            where = getattr(previous, "__module__", "?")
            raise ValueError(
                f"{call}: a different function named {name!r} (from module {where!r}) is already exported, and "
                f"connectToWorker's client reaches functions by name; export one of them from another worker"
            )
        chosen[name] = function
    return chosen


_MISSING = object()

UNREAD_SECTIONS = ("adapters", "exports")
"""Sections of the original workerlib's configs that this one cannot read: :func:`checkConfig` refuses them."""


def checkConfig() -> None:
    """Raise :class:`~workerlib.ConfigError` when this thread's PyScript config has an ``[adapters]`` or ``[exports]``
    section, which the original workerlib read and this one cannot (a worker's config file never reaches Python).

    ``import workerlib`` runs it on PyScript's main thread and in workers, so such a section fails at once instead of
    being ignored. A worker sees its config only when it is written inline (as ``spawn`` and ``create_named_worker``
    pass it); the main thread always sees its own, and reads a worker's config file when it first connects to the
    worker (``connect`` and ``connectToWorker`` then raise the same error).
    """
    where = context()
    if where not in (Context.MAIN, Context.WORKER):
        return
    whose = "this worker's" if where is Context.WORKER else "the main thread's"
    problem = configProblem(workers.visibleConfig(), f"{whose} PyScript config")
    if problem is not None:
        raise ConfigError(problem)


def configProblem(config: Mapping[str, Any], where: str) -> str | None:
    """The message for the first unread section (see :data:`UNREAD_SECTIONS`) in ``config``, or ``None``; ``where``
    names the config (``"the main thread's PyScript config"``)."""
    if "adapters" in config:
        return (
            f"{where} has an [adapters] section, which workerlib does not read: PyScript gives a "
            f"worker's config file to Python as its URL only, so the section could never reach the worker, and an "
            f"adapter on one side only fails calls. Register the adapters in Python instead, in code both the main "
            f"thread and the worker run (the main script and the worker's file, or a module both import), and "
            f"delete the section:\n\n"
            + "\n".join(f"    {line}" for line in adapterLines(config["adapters"]))
            + '\n\n(the guide\'s "Migrating from the original workerlib" says more)'
        )
    if "exports" in config:
        return (
            f"{where} has an [exports] section, which workerlib does not read: PyScript gives a "
            f"worker's config file to Python as its URL only. Point the worker's src at a Python file that exports "
            f"the functions instead, and delete the section (the modules stay as they are):\n\n"
            + "\n".join(f"    {line}" for line in exportLines(config["exports"]))
            + '\n\n(the guide\'s "Migrating from the original workerlib" says more)'
        )
    return None


def adapterLines(section: Any) -> list[str]:
    """The Python that registers what an original ``[adapters]`` section lists: ``{"module": [type, encoder,
    decoder]}`` or ``{"module": [[type, encoder, decoder], ...]}``, ``"None"`` meaning no function."""
    imports: list[str] = []
    registrations: list[str] = []
    entries = section.items() if isinstance(section, Mapping) else ()
    for module, listed in entries:
        triples = [listed] if _isTriple(listed) else listed if isinstance(listed, list) else []
        for triple in triples:
            if not _isTriple(triple):
                continue
            kind, encoder, decoder = triple
            named = [name for name in (kind, encoder, decoder) if name != "None"]
            imports.append(f"from {module} import {', '.join(dict.fromkeys(named))}")
            arguments = [kind]
            arguments += [f"encode={encoder}"] if encoder != "None" else []
            arguments += [f"decode={decoder if decoder != 'None' else kind}"]  # the original's default: the class
            registrations.append(f"adapter({', '.join(arguments)})")
    if not registrations:
        return [
            "from workerlib import adapter",
            "from moduleName import TypeName, typeEncoder, typeDecoder",
            "adapter(TypeName, encode=typeEncoder, decode=typeDecoder)",
        ]
    return ["from workerlib import adapter", *dict.fromkeys(imports), *registrations]


def exportLines(section: Any) -> list[str]:
    """The worker file that exports what an original ``[exports]`` section lists: ``{"module": [name, ...]}``."""
    calls = [
        f"exportFrom({', '.join(json.dumps(part) for part in (module, *names))})"
        for module, names in (section.items() if isinstance(section, Mapping) else ())
        if isinstance(names, list) and names and all(isinstance(name, str) for name in names)
    ]
    return ["from workerlib import exportFrom", *(calls or ['exportFrom("YourModule1", "func1", "func2")'])]


def _isTriple(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 3 and all(isinstance(item, str) and item for item in value)


def _serve() -> None:
    def serveChannel(channel: ports.PortChannel) -> None:
        server.Session(channel, workers.lifeLock)  # the channel keeps its session: it owns the frame handlers

    workers.acceptPorts(serveChannel)


async def connectToWorker(workerName: str | None = None, *, timeout: float | None = None) -> client.Worker:
    """Connect to a worker's exported functions: the named worker, or the only one on the page that exports any.

    ``timeout`` is as for :meth:`WorkerService.connect <workerlib.WorkerService.connect>`.
    """
    _checkTimeout(timeout)
    link, description = await _findWorker(
        "exported functions", lambda found: bool(found.functions), workerName, timeout
    )
    from .client import Connection, Worker

    return Worker(Connection(link, timeout=timeout), description.functions)


# ---- links to workers, one per worker ------------------------------------------------------------------------------

_links: dict[str, Link] = {}
_opening: dict[str, asyncio.Future[tuple[Link, Description]]] = {}


async def _linkTo(name: str, worker: Any, timeout: float | None) -> tuple[Link, Description]:
    """The link to the named worker, its channel opened on first use, and what the worker serves now.

    Concurrent connects to one worker share one handshake; a worker replaced under the same name gets a new link.
    """
    link = _links.get(name)
    if link is None or link.gone is not None or link.worker != worker:  # == on JsProxy: the same object
        opening = _opening.get(name)
        if opening is None:
            opening = _opening[name] = asyncio.ensure_future(_open(name, worker, timeout))
            opening.add_done_callback(lambda _: _opening.pop(name, None))
            return await asyncio.shield(opening)  # just described
        opened, _ = await asyncio.shield(opening)
        return opened, await opened.describe(timeout)
    return link, await link.describe(timeout)  # what it serves now: a worker may define services later


async def _open(name: str, worker: Any, timeout: float | None) -> tuple[Link, Description]:
    channel = await asyncio.wait_for(workers.openChannel(name, worker), timeout)
    from .client import Link

    link = Link(name, worker, channel)
    link.stopWorker = workers.stopperOf(name)
    try:
        description = await link.describe(timeout)
        if context() is Context.MAIN:
            # A worker cannot read its own config file; the main thread can, and refuses the original's sections.
            seen = await asyncio.wait_for(workers.workerConfig(name), timeout)
            problem = configProblem(seen, f"the PyScript config of worker {name!r}")
            if problem is not None:
                raise ConfigError(problem)
    except BaseException:
        channel.close()
        raise
    if description.lifeLock is not None:
        link.onGone = workers.watchLifeLock(description.lifeLock, lambda: link.sever("stopped (terminated or crashed)"))
    _links[name] = link
    return link, description


async def _described(name: str, timeout: float | None) -> tuple[Link, Description]:
    worker = await asyncio.wait_for(workers.workerByName(name), timeout)
    return await _linkTo(name, worker, timeout)


def _summary(description: Description) -> str:
    services = ", ".join(qualname for _, qualname, _ in description.services)
    functions = ", ".join(description.functions)
    parts = ([f"services {services}"] if services else []) + ([f"functions {functions}"] if functions else [])
    return " and ".join(parts) or "nothing"


async def _findWorker(
    wanted: str, serves: Callable[[Description], bool], workerName: str | None, timeout: float | None = None
) -> tuple[Link, Description]:
    """The worker to connect to: the named one if it serves what is wanted, else the only one on the page that does.

    Workers still loading are waited for, at most ``timeout`` seconds.
    """
    names = workers.namedWorkers()
    try:
        if workerName is not None:
            if workerName not in names:
                listed = ", ".join(repr(name) for name in names) or "none"
                raise ConnectError(f"no worker named {workerName!r} on this page (named workers: {listed})")
            link, description = await _described(workerName, timeout)
            if not serves(description):
                raise ConnectError(f"worker {workerName!r} does not serve {wanted}; it serves {_summary(description)}")
            return link, description
        if not names:
            raise ConnectError(
                f"cannot connect to {wanted}: this page has no named workers; add "
                f'<script type="py" worker name="..." src="..."> or use spawn()'
            )
        answers = await asyncio.gather(*(_described(name, timeout) for name in names), return_exceptions=True)
    except TimeoutError:
        raise TimeoutError(f"cannot connect to {wanted}: no answer within {timeout:g} s") from None
    found = [answer for answer in answers if isinstance(answer, tuple) and serves(answer[1])]
    if len(found) == 1:
        return found[0]
    report = "; ".join(
        f"{name!r} serves {_summary(answer[1])}" if isinstance(answer, tuple) else f"{name!r}: {answer}"
        for name, answer in zip(names, answers, strict=True)
    )
    if not found:
        if any(isinstance(answer, TimeoutError) for answer in answers):
            raise TimeoutError(f"cannot connect to {wanted}: within {timeout:g} s, found {report}")
        raise ConnectError(f"no worker on this page serves {wanted} (found {report})")
    matching = ", ".join(repr(link.name) for link, _ in found)
    raise ConnectError(f"several workers serve {wanted} ({matching}); pass workerName= to choose one (found {report})")


def _checkTimeout(timeout: float | None) -> None:
    if timeout is not None and not timeout > 0:
        raise ValueError(f"timeout must be a positive number of seconds or None, got {timeout!r}")
