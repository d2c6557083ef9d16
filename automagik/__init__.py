"""Automagik: run LangFlow flows on a schedule and keep the history of every run."""

__version__ = "0.1.0"
