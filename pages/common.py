"""What every page needs: the shared service context, the settings, and safe ways to show things.

Not a page itself (app.py lists the pages); pages import it as `pages.common`. Everything that
decides or queries lives in automagik.services; this module only adapts it to Streamlit.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import streamlit as st

from automagik.config import Settings, load_settings
from automagik.langflow import display_url
from automagik.services.context import AppContext, open_context
from automagik.services.dashboard_settings import DashboardSettings, dashboard_settings
from automagik.services.errors import ServiceError
from automagik.timefmt import format_local

T = TypeVar("T")
FLASH_KEY = "automagik_flash"

# Status colours shared by every chart and legend, so "failed" is the same red everywhere.
STATUS_COLOURS = {
    "completed": "#2e9e5b",
    "failed": "#d64545",
    "skipped": "#9aa0a6",
    "running": "#3b82f6",
    "pending": "#f0ad4e",
}


@st.cache_resource(show_spinner=False, max_entries=4, on_release=lambda context: context.close())
def _context_for(fingerprint: tuple, _settings: Settings) -> AppContext:
    # `fingerprint` is hashed into the cache key; `_settings` (underscore: not hashed) is used.
    # One engine (and its connection pool) for every session and rerun of the app; a new one
    # only when the settings change (tests switch databases between runs).
    return open_context(_settings)


# Read at most every few seconds, not for every time shown on a page; an edited .env still
# takes effect without a restart. A bad value is not cached: it raises ConfigError each time.
SETTINGS_TTL_SECONDS = 5


@st.cache_resource(ttl=SETTINGS_TTL_SECONDS, show_spinner=False)
def settings() -> Settings:
    return load_settings()


@st.cache_resource(ttl=SETTINGS_TTL_SECONDS, show_spinner=False)
def options() -> DashboardSettings:
    return dashboard_settings()


def context() -> AppContext:
    current = settings()
    # The fingerprint is hashed by the cache, never shown; it includes the API key so that a
    # changed key also gets a fresh context.
    return _context_for(dataclasses.astuple(current), current)


def public_url(url: str) -> str:
    """The LangFlow address without any user:password part, fit to show (the one rule for it)."""
    return display_url(url)


def zone() -> str:
    return settings().timezone


def when(moment: datetime | None, seconds: bool = True) -> str:
    """An instant in the display zone, with the zone named ("2026-11-27 10:00:00 CET")."""
    return format_local(moment, zone(), seconds=seconds)


def refresh_every() -> float | None:
    """The run_every of the self-refreshing fragments; None when refreshing is off."""
    seconds = options().refresh_seconds
    return seconds or None


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=])")
# GitHub-flavoured Markdown turns bare "http://...", "www...." and "a@b.c" into links even when
# escaped; an invisible word joiner (U+2060) inside each keeps them plain text.
_AUTOLINK = re.compile(r"(://|www\\?\.|@)", re.IGNORECASE)
_WORD_JOINER = "\u2060"


def plain(text: object) -> str:
    """User data made safe for places Streamlit renders as Markdown (alerts, labels, captions).

    Every Markdown character gets a backslash, so a flow named "**x**" or "[a](http://b)"
    shows as typed instead of bold or as a link; ":" stops emoji, icon and colour directives;
    bare addresses are kept from becoming links. Streamlit never renders HTML there without
    unsafe_allow_html, which no page uses.
    """
    escaped = _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
    return _AUTOLINK.sub(lambda m: m.group(0)[0] + _WORD_JOINER + m.group(0)[1:], escaped)


def alert(kind: str, message: str) -> None:
    """st.error / warning / info / success of a message that may quote user data."""
    getattr(st, kind)(plain(message))


def flash(kind: str, message: str) -> None:
    """A message to show after the st.rerun() that follows a change (shown once)."""
    st.session_state.setdefault(FLASH_KEY, []).append((kind, message))


def show_flashes() -> None:
    for kind, message in st.session_state.pop(FLASH_KEY, []):
        alert(kind, message)


def attempt(action: Callable[[], T]) -> T | None:
    """Run a service call; a ServiceError becomes one st.error line (nothing was written) and None."""
    try:
        return action()
    except ServiceError as exc:
        st.error(plain(exc.message))
        return None
