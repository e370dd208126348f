"""Adapters whose encode or decode is ``async`` (and really suspends), imported by both sides of the async page.

Each function awaits ``asyncio.sleep(0)`` before it counts itself in ``values_shared.CALLS``, so a count proves the
coroutine was awaited to its end, not merely created.
"""

import asyncio

from values_shared import count

from workerlib import adapter


class Money:
    """Class-style adapter, async staticmethods on both sides."""

    def __init__(self, cents, currency):
        self.cents, self.currency = cents, currency

    def __eq__(self, other):
        return type(other) is Money and (other.cents, other.currency) == (self.cents, self.currency)

    def __hash__(self):
        return hash((Money, self.cents, self.currency))

    def __repr__(self):
        return f"Money({self.cents!r}, {self.currency!r})"


@adapter(Money)
class MoneyAdapter:
    @staticmethod
    async def encode(money):
        await asyncio.sleep(0)
        count("Money.encode")
        return (money.cents, money.currency)

    @staticmethod
    async def decode(data):
        await asyncio.sleep(0)
        count("Money.decode")
        return Money(*data)


class Temperature:
    """adapter(Type, encode=f, decode=g) with async plain functions."""

    def __init__(self, kelvin):
        self.kelvin = kelvin

    def __eq__(self, other):
        return type(other) is Temperature and other.kelvin == self.kelvin

    def __repr__(self):
        return f"Temperature({self.kelvin!r})"


async def encodeTemperature(temperature):
    await asyncio.sleep(0)
    count("Temperature.encode")
    return temperature.kelvin


async def decodeTemperature(kelvin):
    await asyncio.sleep(0)
    count("Temperature.decode")
    return Temperature(kelvin)


adapter(Temperature, encode=encodeTemperature, decode=decodeTemperature)


class Interval:
    """Class-style adapter with plain functions (no staticmethod): a sync encode and an async decode."""

    def __init__(self, start, end):
        self.start, self.end = start, end

    def __eq__(self, other):
        return type(other) is Interval and (other.start, other.end) == (self.start, self.end)

    def __repr__(self):
        return f"Interval({self.start!r}, {self.end!r})"


@adapter(Interval)
class IntervalAdapter:
    def encode(interval):
        count("Interval.encode")
        return [interval.start, interval.end]

    async def decode(data):
        await asyncio.sleep(0)
        count("Interval.decode")
        return Interval(*data)


class Reading:
    """An async encode only: decode defaults to Reading itself."""

    def __init__(self, value):
        self.value = value

    def __eq__(self, other):
        return type(other) is Reading and other.value == self.value

    def __repr__(self):
        return f"Reading({self.value!r})"


async def encodeReading(reading):
    await asyncio.sleep(0)
    count("Reading.encode")
    return reading.value


adapter(Reading, encode=encodeReading)


class Wallet:
    """A sync adapter whose output holds Money: async adapters inside another adapter's output."""

    def __init__(self, coins):
        self.coins = coins

    def __eq__(self, other):
        return type(other) is Wallet and other.coins == self.coins

    def __repr__(self):
        return f"Wallet({self.coins!r})"


adapter(Wallet, encode=lambda wallet: list(wallet.coins), decode=Wallet)


def catalog():
    """Values only async adapters can carry, freshly built; both sides build equal copies."""
    return {
        "money": Money(1999, "EUR"),
        "temperature": Temperature(273.15),
        "interval": Interval(1, 5),
        "reading": Reading([1, 2.5, "three"]),
        "wallet": Wallet([Money(1, "EUR"), Money(2, "USD")]),
        "nested": {
            Money(5, "GBP"): [Temperature(1.0), (Interval(0, 1), {"reading": Reading(None)})],
            "wallet": Wallet([Money(3, "JPY")]),
        },
        "many": [Money(cents, "EUR") for cents in range(50)],
    }
