"""Counts in words, singular or plural as the number asks: "1 run", "3 runs", "1 schedule has"."""

from __future__ import annotations


def counted(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 run", "0 runs", "1,204 runs"; `plural` for nouns that do not take an "s"."""
    return f"{number:,} {word_for(number, noun, plural)}"


def word_for(number: int, noun: str, plural: str | None = None) -> str:
    """The noun alone, as `number` asks: word_for(2, "run") is "runs"."""
    return noun if number == 1 else plural or noun + "s"


def agree(number: int, singular: str, plural: str) -> str:
    """The verb that goes with `number` of things: agree(1, "has", "have") is "has"."""
    return singular if number == 1 else plural
