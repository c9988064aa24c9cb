"""The README's documented defaults are the parser's: every `--flag ...` (default: X) in README.md appears, with the
same default text, in that flag's --help."""
import re
from pathlib import Path

from vitedge.cli import build_parser

README = Path(__file__).resolve().parents[1] / "README.md"
DOCUMENTED = re.compile(r"`(--[a-z0-9-]+)[^`]*` \(default: ([^()]*(?:\([^()]*\)[^()]*)*)\)")


def _helps() -> dict[str, list[str]]:
    """flag -> the help texts it has across every subcommand."""
    helps: dict[str, list[str]] = {}
    parsers = [build_parser()]
    while parsers:
        parser = parsers.pop()
        for action in parser._actions:
            if isinstance(action.choices, dict):  # a subcommand's parsers
                parsers += [p for p in action.choices.values() if hasattr(p, "_actions")]
            for flag in action.option_strings:
                helps.setdefault(flag, []).append(" ".join((action.help or "").split()))
    return helps


def test_documented_defaults_match_the_parser():
    text = " ".join(README.read_text(encoding="utf-8").split())
    documented = DOCUMENTED.findall(text)
    assert len(documented) >= 3, "the README documents flag defaults as `--flag N` (default: ...)"
    helps = _helps()
    for flag, default in documented:
        assert flag in helps, f"README documents {flag}, which no command has"
        assert any(f"default: {default}" in h for h in helps[flag]), \
            f"README says {flag} defaults to {default!r}; --help says {helps[flag]}"
