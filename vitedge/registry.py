"""The one registry mechanism: named entries, listed in registration order, with close-name suggestions."""
from __future__ import annotations

import difflib
from typing import Callable, Generic, TypeVar

from vitedge.errors import VitedgeError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(entry: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} registered twice")
            self._entries[name] = entry
            return entry

        return add

    def get(self, name: str) -> T:
        if name not in self._entries:
            close = difflib.get_close_matches(name, self.names(), n=2, cutoff=0.5)
            hint = f"did you mean {' or '.join(close)}?" if close else f"choose from: {', '.join(self.names())}"
            raise VitedgeError(f"unknown {self.kind} {name!r}", hint)
        return self._entries[name]

    def names(self) -> list[str]:
        return list(self._entries)

    def __contains__(self, name: str) -> bool:
        return name in self._entries
