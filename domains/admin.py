"""Administration Manager: routes a validated command to the handler of its resource.

Handlers are registered per operation on LwM2M path prefixes (the longest wins) and
return a ``Response`` or ``None`` when the answer comes later over IPC.  ``Resources``
is the handler for a domain's own values, kept in a page-backed store.
"""
from __future__ import annotations

from .commands import STATUS, Command, Refused, Response
from .store import PageStore, StoreError


class AdministrationManager:
    def __init__(self):
        self._routes: dict[tuple[str, tuple[int, ...]], object] = {}

    def route(self, codes: str, prefix: str, handler) -> None:
        """Send ``codes`` (space-separated operations) on ``prefix`` to ``handler(command)``."""
        path = tuple(int(p) for p in prefix.split("/"))
        for code in codes.split():
            self._routes[code, path] = handler

    def handler(self, code: str, path: tuple[int, ...]):
        for n in range(len(path), 0, -1):
            found = self._routes.get((code, path[:n]))
            if found is not None:
                return found
        return None

    def paths(self) -> set[tuple[int, ...]]:
        """The LwM2M paths (prefixes) it routes."""
        return {path for _, path in self._routes}

    def knows(self, code: str, path: tuple[int, ...]) -> bool:
        return self.handler(code, path) is not None

    def dispatch(self, command: Command) -> Response | None:
        return self.handler(command.code, command.path)(command)


def respond(command: Command, reason: str, value=None) -> Response:
    return Response(command.id, STATUS[reason], reason, value)


class Resources:
    """A domain's own resource values (path text -> value) in a page store; paths below a
    resource (a resource instance) are not among them."""

    def __init__(self, store: PageStore):
        self.store = store

    def _values(self, command: Command) -> dict:
        values = self.store.load()
        if command.resource not in values:
            raise Refused("unknown_path", f"no resource {command.resource} here")
        return values

    def read(self, command: Command) -> Response:
        return respond(command, "content", self._values(command)[command.resource])

    def write(self, command: Command) -> Response:
        values = self._values(command)
        values[command.resource] = command.value
        try:
            self.store.save(values)
        except StoreError as error:
            raise Refused("oversized", f"{command.resource}: {error}") from None
        return respond(command, "changed")
