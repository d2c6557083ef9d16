"""Settings from the environment and .env: defaults, precedence, one clear message per bad value."""

from __future__ import annotations

import pytest

from automagik.config import DEFAULT_SQLITE_PATH, ConfigError, load_settings


def test_defaults():
    settings = load_settings(environ={}, env_file=None)
    assert settings.langflow_api_url == "http://localhost:7860"
    assert settings.langflow_api_key is None
    assert settings.database_url == f"sqlite:///{DEFAULT_SQLITE_PATH}"
    assert str(DEFAULT_SQLITE_PATH).endswith("data/automagik.db")
    assert settings.timezone == "UTC"


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("LANGFLOW_API_URL=http://lf.local:7861/\nLANGFLOW_API_KEY=sk-from-file\nTIMEZONE=Asia/Tokyo\n")
    settings = load_settings(environ={"TIMEZONE": "Europe/Berlin"}, env_file=env_file)
    assert settings.langflow_api_url == "http://lf.local:7861"
    assert settings.langflow_api_key == "sk-from-file"
    assert settings.timezone == "Europe/Berlin"


def test_the_key_is_not_in_the_settings_repr():
    settings = load_settings(environ={"LANGFLOW_API_KEY": "sk-very-secret"}, env_file=None)
    assert "sk-very-secret" not in repr(settings)


@pytest.mark.parametrize(
    "name, value, expected",
    [
        ("LANGFLOW_API_URL", "localhost:7860", "LANGFLOW_API_URL"),
        ("LANGFLOW_API_URL", "ftp://x", "http(s)://"),
        ("LANGFLOW_API_URL", "http://host:99999", "port"),
        ("DATABASE_URL", "not a url", "DATABASE_URL"),
        ("DATABASE_URL", "mysql://u@h/db", "only sqlite"),
        ("DATABASE_URL", "postgresql+asyncpg://u@h/db", "driver 'asyncpg'"),
        ("TIMEZONE", "Mars/Base", "TIMEZONE"),
        ("TIMEZONE", "../../etc/passwd", "IANA"),
        ("TIMEZONE", "Europe/", "IANA"),
        ("TIMEZONE", "Europe/Berlin\x00", "IANA"),
        ("LANGFLOW_READ_TIMEOUT", "soon", "LANGFLOW_READ_TIMEOUT"),
    ],
)
def test_bad_values_stop_with_a_message_naming_the_variable(name, value, expected):
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")) as refused:
        load_settings(environ={name: value}, env_file=None)
    assert name in str(refused.value) and "\n" not in str(refused.value)


def test_plain_postgresql_urls_use_the_installed_driver():
    from automagik.db.engine import make_engine

    for url in ("postgresql://u:p@127.0.0.1:1/db", "postgresql+psycopg2://u:p@127.0.0.1:1/db"):
        assert load_settings(environ={"DATABASE_URL": url}, env_file=None).database_url == url
        engine = make_engine(url)
        assert engine.dialect.driver == "psycopg2"
        engine.dispose()


@pytest.mark.parametrize("value", ["", "   ", "\t"])
def test_an_empty_timezone_variable_counts_as_unset(value):
    """The environment's convention (unlike `--timezone ""`, which is refused): empty = unset = UTC."""
    assert load_settings(environ={"TIMEZONE": value}, env_file=None).timezone == "UTC"


@pytest.mark.parametrize(
    "value, says",
    [
        ("http://ops-7f3a:pw-s3cr3t@host:99999", "invalid port"),
        ("ftp://ops-7f3a:pw-s3cr3t@host", "not a usable address"),
        ("http://ops-7f3a:pw-s3cr3t@", "not a usable address"),
        ("http://ops-7f3a:pw/s3cr3t@host:7860", "percent-encode"),  # an unescaped / ends the host early
        ("http://ops-7f3a:pw#s3cr3t@host:7860", "percent-encode"),
    ],
)
def test_a_refused_langflow_url_does_not_show_its_login(value, says):
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={"LANGFLOW_API_URL": value}, env_file=None)
    message = str(refused.value)
    assert message.startswith("LANGFLOW_API_URL") and says in message, message
    assert "ops-7f3a" not in message and "s3cr3t" not in message, message


def test_a_langflow_url_with_an_escaped_login_is_kept_as_given():
    url = "https://ops-7f3a:pw%2Fs3cr3t%40x@langflow.example:7860"
    assert load_settings(environ={"LANGFLOW_API_URL": url}, env_file=None).langflow_api_url == url


PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "all_proxy",
    "ALL_PROXY",
    "no_proxy",
    "NO_PROXY",
)


@pytest.fixture
def proxy_env(monkeypatch):
    """The process environment with no proxy variables and LangFlow at an https address."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANGFLOW_API_URL", "https://langflow.example:7860")
    return monkeypatch


@pytest.mark.parametrize(
    "variable, value",
    [
        ("HTTPS_PROXY", "socks5://px-user:px-s3cr3t@127.0.0.1:1080"),
        ("ALL_PROXY", "socks5h://127.0.0.1:1080"),
    ],
)
def test_a_socks_proxy_for_langflow_stops_the_start(proxy_env, variable, value):
    proxy_env.setenv(variable, value)
    with pytest.raises(ConfigError) as refused:
        load_settings(env_file=None)
    message = str(refused.value)
    assert message == (
        f"{variable}=socks5{'h' if variable == 'ALL_PROXY' else ''}://127.0.0.1:1080: SOCKS proxies "
        "are not supported; use an http:// proxy or NO_PROXY=langflow.example."
    )


def test_proxies_that_do_not_lead_to_langflow_are_not_checked(proxy_env):
    proxy_env.setenv("HTTP_PROXY", "socks5://127.0.0.1:1080")  # LangFlow is https
    proxy_env.setenv("HTTPS_PROXY", "http://proxy.local:3128")
    assert load_settings(env_file=None).langflow_api_url == "https://langflow.example:7860"
    proxy_env.setenv("ALL_PROXY", "socks5://127.0.0.1:1080")
    proxy_env.delenv("HTTPS_PROXY")
    proxy_env.setenv("NO_PROXY", "localhost,.example")
    assert load_settings(env_file=None).langflow_api_url == "https://langflow.example:7860"


def test_proxies_are_checked_in_the_given_environment_too():
    with pytest.raises(ConfigError, match="^ALL_PROXY=socks4://"):
        load_settings(
            environ={"LANGFLOW_API_URL": "http://lf:7860", "ALL_PROXY": "socks4://127.0.0.1:1080"}, env_file=None
        )


@pytest.mark.parametrize(
    "url, suggested",
    [
        ("http://localhost:7860/api/v1", "http://localhost:7860"),
        ("https://lf.example.com/langflow/api/v1/", "https://lf.example.com/langflow"),
    ],
)
def test_a_url_ending_in_the_api_path_is_refused_naming_it(url, suggested):
    with pytest.raises(ConfigError) as refused:
        load_settings({"LANGFLOW_API_URL": url}, env_file=None)
    assert f"ends in /api/v1: set it to LangFlow's address without the API path (like {suggested})" in str(
        refused.value
    )
