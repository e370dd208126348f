"""A mypy plugin that types a client's methods from its service class: ``plugins = ["workerlib.mypyplugin"]``.

``await Calculator.connect()`` is a ``ServiceClient[Calculator]`` (``spawn`` too; ``pool`` a ``Pool[Calculator]``).
Python's type system cannot say "the methods of ``Calculator``, each returning an awaitable of what it returns", so
without this plugin a type checker sees the client's methods as ``Any``. With it, mypy sees each one with the
service method's parameters (``self`` left out) and returns:

* a sync or ``async`` method returning ``R``: a :class:`~workerlib.Call` of ``R`` (``await`` gives ``R``);
* a generator method yielding ``Y`` (sync or ``async``): a :class:`~workerlib.Stream` of ``Y`` (``async for``);
* a name that is not a public method of the service: an error naming the service and the methods it has.

Only mypy reads this module (workerlib never imports it), so mypy need not be installed where workerlib runs.
"""

from __future__ import annotations

from collections.abc import Callable

from mypy import errorcodes as codes
from mypy.nodes import Decorator, FuncDef, OverloadedFuncDef, SymbolNode, TypeInfo
from mypy.plugin import AttributeContext, Plugin
from mypy.typeops import bind_self
from mypy.types import AnyType, CallableType, Instance, ProperType, Type, TypeOfAny, get_proper_type

CLIENTS = ("workerlib.client.ServiceClient", "workerlib.pool.Pool")
"""The classes whose unknown attributes are the service's methods (both declare ``__getattr__`` for type checkers)."""
BASE = "workerlib.service.WorkerService"
"""The base every service derives from: its own members are never served."""
CALL = "workerlib.Call"  # by the package's names: mypy looks a name up one module at a time
STREAM = "workerlib.Stream"
_ITERATORS = {
    "typing.Iterator",
    "typing.Iterable",
    "typing.Generator",
    "typing.AsyncIterator",
    "typing.AsyncIterable",
    "typing.AsyncGenerator",
    "collections.abc.Iterator",
    "collections.abc.Iterable",
    "collections.abc.Generator",
    "collections.abc.AsyncIterator",
    "collections.abc.AsyncIterable",
    "collections.abc.AsyncGenerator",
}


class WorkerlibPlugin(Plugin):
    """Hooks the attribute look-ups of clients and pools (see the module)."""

    def get_attribute_hook(self, fullname: str) -> Callable[[AttributeContext], Type] | None:
        owner, _, name = fullname.rpartition(".")
        if owner in CLIENTS:
            return lambda ctx: clientMethod(ctx, name)
        return None


def clientMethod(ctx: AttributeContext, name: str) -> Type:
    """The type of ``client.name``: the service method ``name``, as the client calls it."""
    client = get_proper_type(ctx.type)
    if not isinstance(client, Instance) or not client.args or client.type.get(name) is not None:
        return ctx.default_attr_type  # an attribute of the client itself (worker, timeout, close, map...)
    service = get_proper_type(client.args[0])
    if not isinstance(service, Instance):
        return ctx.default_attr_type  # ServiceClient[Any], or a type variable: nothing more is known
    found = _serviceMethods(service.type).get(name)
    if found is None:
        methods = ", ".join(sorted(_serviceMethods(service.type))) or "none"
        ctx.api.fail(
            f'"{service.type.name}" has no service method "{name}" (its service methods: {methods})',
            ctx.context,
            code=codes.ATTR_DEFINED,
        )
        return AnyType(TypeOfAny.from_error)
    signature = get_proper_type(_signature(found))
    if not isinstance(signature, CallableType):
        return AnyType(TypeOfAny.special_form)
    bound = bind_self(signature, service)
    return bound.copy_modified(ret_type=_clientResult(ctx, found, get_proper_type(bound.ret_type)))


def _serviceMethods(info: TypeInfo) -> dict[str, SymbolNode]:
    """The public methods of a service class, its own and inherited, up to (not including) ``WorkerService``."""
    found: dict[str, SymbolNode] = {}
    for cls in info.mro:
        if cls.fullname in (BASE, "builtins.object"):
            break
        for name, symbol in cls.names.items():
            node = symbol.node
            if (
                not name.startswith("_")
                and name not in found
                and isinstance(node, FuncDef | Decorator | OverloadedFuncDef)
            ):
                found[name] = node
    return found


def _signature(node: SymbolNode) -> Type | None:
    if isinstance(node, Decorator):
        return node.var.type or node.func.type
    if isinstance(node, FuncDef | OverloadedFuncDef):
        return node.type
    return None


def _function(node: SymbolNode) -> FuncDef | None:
    if isinstance(node, Decorator):
        return node.func
    if isinstance(node, FuncDef):
        return node
    return None


def _clientResult(ctx: AttributeContext, node: SymbolNode, returned: ProperType) -> Type:
    """``Call[R]`` for a method returning ``R`` (an ``async`` one's awaited result), ``Stream[Y]`` for a generator."""
    function = _function(node)
    if function is not None and (function.is_generator or function.is_async_generator):
        return _instance(ctx, STREAM, _yielded(returned))
    if function is not None and function.is_coroutine and isinstance(returned, Instance) and returned.args:
        returned = get_proper_type(returned.args[-1])  # Coroutine[Any, Any, R]
    return _instance(ctx, CALL, returned)


def _instance(ctx: AttributeContext, fullname: str, argument: Type) -> Type:
    """``fullname[argument]``, by the name the package exports it under."""
    return ctx.api.named_generic_type(fullname, [argument])


def _yielded(returned: ProperType) -> Type:
    if isinstance(returned, Instance) and returned.type.fullname in _ITERATORS and returned.args:
        return returned.args[0]
    return AnyType(TypeOfAny.special_form)


def plugin(version: str) -> type[Plugin]:
    """mypy's entry point."""
    return WorkerlibPlugin
