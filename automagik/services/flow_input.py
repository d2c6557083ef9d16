"""The input a run sends to a flow: the text for its input component and optional tweaks.

Users write it as JSON (`--input '{"input": "message"}'`); it is stored as given on the
schedule (flow_params, the template), and each task stores it with its placeholders filled in
(input_data, what was sent: see runs/templates.py).
"""

from __future__ import annotations

import json
from typing import Any

from automagik.runs.templates import CHAIN_ONLY, PLACEHOLDERS, TemplateError, check_input
from automagik.services.errors import InvalidInput

MAX_INPUT_CHARS = 1_000_000
TEXT_KEYS = ("input", "input_value")
ALLOWED_KEYS = (*TEXT_KEYS, "tweaks")


def parse_flow_input(raw: str | dict[str, Any] | None, *, chained: bool = False) -> dict[str, Any]:
    """Check a run's input and return its stored form `{"input": text, "tweaks": {...}}`.

    Accepts a JSON object with "input" (or "input_value") and an optional "tweaks" object,
    a JSON string (the text alone), or an already-parsed dict. Its placeholders are checked
    too (`chained`: it is the input of a schedule of type after, which has an upstream run).
    """
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {"input": "", "tweaks": {}}
    if isinstance(raw, str):
        if len(raw) > MAX_INPUT_CHARS:
            raise InvalidInput(f"The input is {len(raw):,} characters long: at most {MAX_INPUT_CHARS:,} are accepted.")
        try:
            value = json.loads(raw, parse_constant=_refuse_constant)
        except json.JSONDecodeError as exc:
            raise InvalidInput(
                f'The input is not valid JSON ({exc.msg} at character {exc.pos}): expected like {{"input": "message"}}.'
            ) from None
        except RecursionError:
            raise InvalidInput("The input JSON is nested too deeply: keep it to a few levels.") from None
    else:
        value = raw
    if isinstance(value, str):
        value = {"input": value}
    if not isinstance(value, dict):
        raise InvalidInput('The input must be a JSON object like {"input": "message"}, or a JSON string.')
    unknown = [k for k in value if k not in ALLOWED_KEYS]
    if unknown:
        raise InvalidInput(
            f'Unknown key "{unknown[0]}" in the input: use "input" for the text and optionally "tweaks" '
            "(an object {component_id: {field: value}})."
        )
    if all(k in value for k in TEXT_KEYS):
        raise InvalidInput('Give the text once: "input" or "input_value", not both.')
    text = value.get("input", value.get("input_value", ""))
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise InvalidInput(f'The input text must be a string, not {type(text).__name__}: like {{"input": "message"}}.')
    tweaks = {} if value.get("tweaks") is None else value["tweaks"]
    if not isinstance(tweaks, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in tweaks.items()):
        raise InvalidInput('"tweaks" must be an object {component_id: {field: value}}.')
    try:
        unstorable = _contains_nul(text) or _contains_nul(tweaks)
    except RecursionError:
        raise InvalidInput("The input's tweaks are nested too deeply: keep them to a few levels.") from None
    if unstorable:
        # PostgreSQL cannot store NUL in text or JSON; refuse it on every database alike.
        raise InvalidInput("The input contains a NUL character (\\u0000), which cannot be stored: remove it.")
    return checked_placeholders({"input": text, "tweaks": tweaks}, chained=chained)


def checked_placeholders(params: dict[str, Any], *, chained: bool = False) -> dict[str, Any]:
    """`params` if every placeholder in it can be filled, else InvalidInput saying which cannot.
    The one place a TemplateError becomes the user's one-line refusal."""
    try:
        check_input(params, chained=chained)
    except TemplateError as exc:
        raise InvalidInput(str(exc)) from None
    return params


def placeholder_help(*, chains: bool = False, code: bool = False, zone: str = "the schedule's zone") -> str:
    """The placeholders an input may hold, for help texts: `chains` also names the one filled
    only on a schedule of type after; `code` puts each in Markdown backticks (the forms' help)."""

    def quote(text: str) -> str:
        return f"`{text}`" if code else text

    names = ", ".join(quote(f"{{{{ {name} }}}}") for name in PLACEHOLDERS if name not in CHAIN_ONLY)
    chained = "".join(f"; {quote(f'{{{{ {name} }}}}')} on a schedule of type after" for name in CHAIN_ONLY if chains)
    return (
        f"placeholders filled in for each run: {names} (times in {zone}){chained}; "
        f"{quote(chr(92) + '{{')} for literal braces"
    )


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON: PostgreSQL refuses them and LangFlow could not read them.
    raise InvalidInput(f"The input contains {name}, which is not a JSON number: use a number or a string.")


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_contains_nul(v) for v in value)
    return False


def parse_typed_input(text: str | None) -> dict[str, Any]:
    """What a person typed in an input box: a JSON object when it starts with "{", else the text.

    Plain words are the common case and need no quoting; `{"input": ..., "tweaks": ...}` is
    there for tweaks. An object that does not parse is refused (InvalidInput) rather than sent
    as text, since it was meant as JSON.
    """
    if text is not None and text.lstrip().startswith("{"):
        return parse_flow_input(text)
    return parse_flow_input({"input": text or ""})
