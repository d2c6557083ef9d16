"""LangFlow's address: how it is shown, and the login it may carry.

LANGFLOW_API_URL may hold a ``user:password`` for a reverse proxy in front of LangFlow
(``http://user:password@host:7860``). The client sends it as basic auth, as ``requests``
would, and every message, log line and page names the address through :func:`display_url`,
which drops it. Standard library only, so that config.py can use it too.
"""

from __future__ import annotations

import base64
import re
from urllib.parse import unquote, urlsplit, urlunsplit

_MASK = "***"
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def display_url(url: str) -> str:
    """``url`` fit to show: no ``user:password@``, query values masked, no fragment.

    Everything between ``//`` and the *last* ``@`` counts as the login, even past a ``/``,
    ``?`` or ``#``: a password holding one of those unencoded would otherwise show in part.
    The price is that a URL with an ``@`` in its path or query shows shortened, never a secret.
    A relative URL (``/path?query``) keeps its path.
    """
    text = str(url).strip()
    scheme = _SCHEME.match(text)
    prefix, rest = (scheme.group(), text[scheme.end():]) if scheme else ("", text)
    if "@" in rest and not rest.startswith("/"):
        rest = rest.rpartition("@")[2]
    rest = rest.partition("#")[0]
    path, has_query, query = rest.partition("?")
    if has_query:
        names = (item.partition("=")[0] for item in query.split("&"))
        path += "?" + "&".join(f"{name}={_MASK}" for name in names if name)
    return prefix + path


def split_login(url: str) -> tuple[str, str | None]:
    """``url`` without its ``user:password@``, and that login decoded (``user:password``), or None.

    Parsed as urllib3 and ``requests`` parse it (the authority ends at the first ``/ ? #``),
    so the address used is the one they would use; percent-escapes in the login are decoded.
    """
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, None
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), f"{unquote(user)}:{unquote(password)}"


def basic_auth(login: str) -> str:
    """The ``Authorization`` value for ``user:password``.

    UTF-8, as RFC 7617 asks servers to accept; ``requests`` uses Latin-1, the same bytes for
    any ASCII login, and would fail on a character Latin-1 lacks.
    """
    return "Basic " + base64.b64encode(login.encode("utf-8")).decode("ascii")


def login_after_host(url: str) -> bool:
    """True when an ``@`` comes after where the host ends: a login with an unescaped ``/ ? #``.

    Such a URL sends part of the password to a wrong host name; config.py refuses it.
    """
    parts = urlsplit(url)
    return "@" in parts.path or "@" in parts.query or "@" in parts.fragment
