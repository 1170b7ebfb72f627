"""The message bus: one handler per command (errors raise), many per event (errors are
logged and the rest go on). Events reach in-process handlers after commit; they are also in
the outbox, written with the change, for everything outside this process."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ordermesh.domain.commands import Command
from ordermesh.domain.events import Event
from ordermesh.domain.fulfilment import AllocationPolicy, MostStockFirst
from ordermesh.ports.clock import Clock
from ordermesh.ports.storage import ConcurrencyConflict, UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """What handlers may use besides the unit of work."""

    clock: Clock
    policy: AllocationPolicy = field(default_factory=MostStockFirst)


CommandHandler = Callable[[Any, UnitOfWork, Deps], Any]
EventHandler = Callable[[Any, Deps], Sequence[Command]]


class MessageBus:
    def __init__(
        self,
        uow_factory: Callable[[], UnitOfWork],
        deps: Deps,
        command_handlers: Mapping[type[Command], CommandHandler],
        event_handlers: Mapping[type[Event], Sequence[EventHandler]],
        *,
        max_attempts: int = 8,
    ) -> None:
        self.uow_factory = uow_factory
        self.deps = deps
        self.command_handlers = dict(command_handlers)
        self.event_handlers = dict(event_handlers)
        self.max_attempts = max_attempts

    def handle(self, command: Command) -> Any:
        """Run the command in its own transaction, retrying if another transaction got in the
        way; then let the in-process event handlers react."""
        handler = self.command_handlers[type(command)]
        for attempt in range(1, self.max_attempts + 1):
            try:
                with self.uow_factory() as uow:
                    result = handler(command, uow, self.deps)
                    events = uow.committed_events()
                break
            except ConcurrencyConflict:
                if attempt == self.max_attempts:
                    raise
                # Jittered so that the writers who collided do not collide again.
                time.sleep(random.uniform(0, 0.002 * 2**attempt))
        self._react(events)
        return result

    def _react(self, events: list[Event]) -> None:
        queue = list(events)
        while queue:
            event = queue.pop(0)
            for react in self.event_handlers.get(type(event), ()):
                try:
                    for follow_up in react(event, self.deps):
                        self.handle_quietly(follow_up)
                except Exception:
                    log.exception(
                        "handler %s failed on %s", getattr(react, "__name__", react), event
                    )

    def handle_quietly(self, command: Command) -> Any:
        try:
            return self.handle(command)
        except Exception:
            log.exception("follow-up command %s failed", type(command).__name__)
            return None
