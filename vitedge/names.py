"""Comma-separated name lists from the command line (`--format onnx,tflite`, `--target x86-cpu`, ...).

A release tool runs exactly what it was asked: each entry must be one of the allowed names as written (names are
lowercase), an empty entry (`onnx,,tflite`, `,`), a repeated name and an empty list are refused with the flag, the
entry and the allowed names -- never guessed around, never read as "everything".
"""
from __future__ import annotations

import difflib

from vitedge.errors import VitedgeError


class NameListError(VitedgeError):
    """A name list option with an unknown, repeated or empty entry."""


def name_list(text, flag: str, allowed, all_word: str | None = None, kind: str = "name") -> list[str]:
    """The names of `text` (comma-separated), each one of `allowed`; `all_word` alone means every allowed name.
    `kind` names what a name is in messages ("format", "target", ...)."""
    allowed = list(allowed)
    choices = ", ".join(allowed) + (f" (or {all_word})" if all_word else "")
    if not isinstance(text, str) or not text.strip():
        raise NameListError(f"{flag} is empty", f"pass one or more of: {choices}, comma-separated")
    names = [part.strip() for part in text.split(",")]
    if all_word and names == [all_word]:
        return allowed
    if "" in names:
        raise NameListError(f"{flag} {text!r} has an empty entry (a stray comma)",
                            f"write the names separated by single commas, e.g. {flag} {allowed[0]}")
    for name in names:
        if name not in allowed:
            raise NameListError(f"{flag}: unknown {kind} {name!r}", _suggestion(name, allowed, choices))
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise NameListError(f"{flag} {text!r} names {', '.join(repeated)} more than once",
                            "give each name once")
    return names


def _suggestion(name: str, allowed: list[str], choices: str) -> str:
    if name.lower() in allowed or name.strip().lower() in allowed:
        return f"names are lowercase: {name.lower()!r}; allowed: {choices}"
    close = difflib.get_close_matches(name, allowed, n=2, cutoff=0.5)
    return (f"did you mean {' or '.join(close)}? " if close else "") + f"allowed: {choices}"
