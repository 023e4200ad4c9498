"""Prompt templates from `prompts/`, loaded once and checked against what the code fills in."""

from __future__ import annotations

import string
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from bot.errors import PromptError

# The one refusal sentence: the prompt asks for it, the code detects and emits it, tests assert it.
REFUSAL = "I don't know: the documents don't say."

# Each template's variables, exactly; a template that asks for more or fewer fails at start-up.
TEMPLATE_VARIABLES: dict[str, frozenset[str]] = {
    "answer_system": frozenset({"refusal"}),
    "answer_human": frozenset({"sources", "question"}),
    "condense": frozenset({"history", "question"}),
}


@dataclass(frozen=True)
class PromptSet:
    """The validated templates, as text with `{variable}` fields."""

    answer_system: str
    answer_human: str
    condense: str


def template_variables(text: str) -> frozenset[str]:
    """The `{name}` fields a format-string template uses."""
    return frozenset(
        name for _, name, _, _ in string.Formatter().parse(text) if name is not None and name != ""
    )


def read_template(name: str) -> str:
    """The text of `prompts/<name>.txt` as shipped with the package."""
    try:
        return (resources.files("prompts") / f"{name}.txt").read_text(encoding="utf-8")
    except (FileNotFoundError, OSError) as error:
        raise PromptError(
            f"Prompt template prompts/{name}.txt is missing: reinstall citebot."
        ) from error


def validate_template(name: str, text: str) -> str:
    """Return `text` if it uses exactly the variables the code fills in, else raise PromptError."""
    expected = TEMPLATE_VARIABLES[name]
    try:
        found = template_variables(text)
    except ValueError as error:
        raise PromptError(f"prompts/{name}.txt is not a valid template: {error}") from error
    if found != expected:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise PromptError(
            f"prompts/{name}.txt does not fit the code: missing {missing or 'nothing'}, "
            f"unknown {extra or 'nothing'}. Use exactly {{{'}, {'.join(sorted(expected))}}}; "
            "write a literal brace as {{ or }}."
        )
    return text


@lru_cache(maxsize=1)
def load_prompts() -> PromptSet:
    """Load and validate every template (cached: read once per process)."""
    return PromptSet(
        **{name: validate_template(name, read_template(name)) for name in TEMPLATE_VARIABLES}
    )
