"""The values both threads share: an order and a summary, plain dataclasses that cross as themselves."""

from dataclasses import dataclass
from datetime import date
from decimal import Decimal


@dataclass(frozen=True)
class Order:
    """One order of the book the worker holds."""

    number: int
    customer: str
    amount: Decimal
    placed: date


@dataclass(frozen=True)
class Summary:
    """What the book holds, in numbers."""

    orders: int
    customers: int
    total: Decimal
    largest: Order | None
