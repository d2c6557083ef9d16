"""LangFlow's address: how it is shown, the login it may carry, the proxy that leads to it.

LANGFLOW_API_URL may hold a ``user:password`` for a reverse proxy in front of LangFlow
(``http://user:password@host:7860``). The client sends it as basic auth, as ``requests``
would, and every message, log line and page names the address through :func:`display_url`,
which drops it. The proxy comes from the environment as ``requests`` takes it
(:func:`proxy_for`); only http:// and https:// proxies are usable (:func:`proxy_problem`).
Standard library only, so that config.py can check all of this at start-up.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
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
    prefix, rest = (scheme.group(), text[scheme.end() :]) if scheme else ("", text)
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


# -- proxies ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxySetting:
    """The proxy the environment names for an address."""

    variable: str  # the variable it came from, e.g. HTTPS_PROXY
    url: str  # with a scheme (http:// when the variable gave none), login included

    @property
    def shown(self) -> str:
        return display_url(self.url)


def proxy_for(url: str, environ: Mapping[str, str]) -> ProxySetting | None:
    """The proxy ``requests`` would use for ``url``: the scheme's own variable, else ALL_PROXY,
    unless NO_PROXY covers the host. Lowercase names win over uppercase, as with curl."""
    parts = urlsplit(url)
    no_proxy = _first_set(environ, "no_proxy", "NO_PROXY")
    if no_proxy and _bypassed(parts.hostname or "", parts.port, no_proxy[1]):
        return None
    found = _first_set(environ, f"{parts.scheme}_proxy", f"{parts.scheme.upper()}_PROXY", "all_proxy", "ALL_PROXY")
    if found is None:
        return None
    variable, value = found
    return ProxySetting(variable, value if "://" in value else "http://" + value)


def proxy_problem(proxy: ProxySetting, host: str) -> str | None:
    """The one line refusing ``proxy`` (any but http:// and https://), or None when it is usable.

    urllib3 reaches a SOCKS proxy only through PySocks, which is not a dependency; left to
    itself it would raise ProxySchemeUnknown from the middle of a run.
    """
    scheme = proxy.url.partition("://")[0].lower()
    if scheme in ("http", "https"):
        return None
    kind = "SOCKS proxies" if scheme.startswith("socks") else f"{scheme}:// proxies"
    return f"{proxy.variable}={proxy.shown}: {kind} are not supported; use an http:// proxy or NO_PROXY={host}."


def _first_set(environ: Mapping[str, str], *names: str) -> tuple[str, str] | None:
    for name in names:
        value = (environ.get(name) or "").strip()
        if value:
            return name, value
    return None


def _bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """NO_PROXY as ``requests`` reads it: ``*``; a host or domain (leading dot optional, ``:port``
    optional) matching the host or one of its parent domains; an IP range (``10.0.0.0/8``)."""
    host = host.lower()
    candidates = (host, f"{host}:{port}") if port else (host,)
    for entry in (item.strip().lower() for item in no_proxy.split(",")):
        if entry == "*":
            return True
        if "/" in entry:
            if _in_network(host, entry):
                return True
            continue
        name = entry.lstrip(".")
        if name and any(candidate == name or candidate.endswith("." + name) for candidate in candidates):
            return True
    return False


def _in_network(host: str, network: str) -> bool:
    try:
        return ipaddress.ip_address(host) in ipaddress.ip_network(network, strict=False)
    except ValueError:  # the host is a name, or the entry is not a range
        return False
