"""The message bus: one handler per command (errors raise), many per event (errors are
logged and the rest go on). Events reach in-process handlers after commit; they are also in
the outbox, written with the change, for everything outside this process."""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from ordermesh.domain.commands import Command
from ordermesh.domain.events import Event
from ordermesh.domain.fulfilment import AllocationPolicy, MostStockFirst
from ordermesh.ports.clock import Clock
from ordermesh.ports.storage import ConcurrencyConflict, GroupAborted, UnitOfWork, WriteGroup

log = logging.getLogger(__name__)


@dataclass
class Deps:
    """What handlers may use besides the unit of work."""

    clock: Clock
    policy: AllocationPolicy = field(default_factory=MostStockFirst)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one command of `handle_together` came to: its result, or the error it raised."""

    result: Any = None
    error: Exception | None = None


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
        group_factory: Callable[[], WriteGroup] | None = None,
    ) -> None:
        self.uow_factory = uow_factory
        self.group_factory = group_factory
        """Set where the storage can run several commands in one transaction (SQLite)."""
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

    def handle_together(self, commands: Sequence[Command]) -> list[Outcome]:
        """Run commands in order, each with the outcome it would have alone. Where the storage
        can group them, they share one transaction and its commit, each in a savepoint of its
        own so that a failing command is undone alone; nothing is answered, and no event
        handler runs, before that commit."""
        if self.group_factory is None or len(commands) < 2:
            return [self._alone(command) for command in commands]
        ran: list[tuple[Any, list[Event]] | Exception | None] = []
        try:
            with self.group_factory() as group:
                for command in commands:
                    handler = self.command_handlers[type(command)]
                    try:
                        with group.unit() as uow:
                            result = handler(command, uow, self.deps)
                        ran.append((result, uow.committed_events()))
                    except GroupAborted:
                        raise
                    except ConcurrencyConflict:
                        ran.append(None)  # run again alone, with the retries
                    except Exception as exc:
                        ran.append(exc)
                group.commit()
        except Exception:
            # The group itself failed (its commit, or a failure that undid all of it):
            # nothing of it was kept, so every command runs again on its own.
            log.warning(
                "a write group of %d commands failed; running them one by one",
                len(commands),
                exc_info=True,
            )
            return [self._alone(command) for command in commands]
        outcomes = []
        for command, done in zip(commands, ran, strict=True):
            if done is None:
                outcomes.append(self._alone(command))
            elif isinstance(done, Exception):
                outcomes.append(Outcome(error=done))
            else:
                result, events = done
                self._react(events)
                outcomes.append(Outcome(result))
        return outcomes

    def _alone(self, command: Command) -> Outcome:
        try:
            return Outcome(self.handle(command))
        except Exception as exc:
            return Outcome(error=exc)

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


class WriteQueue(Executor):
    """Where writes run when called from async code (the API, the dashboard).

    With one thread (SQLite) writes run in arrival order instead of fighting over the
    database's lock, and the commands that queued up while the previous ones ran are handed to
    the bus together (`submit_command`), to share one transaction and one commit. Anything
    else submitted (`submit`) runs alone, in its place in the queue."""

    def __init__(self, bus: MessageBus, *, threads: int = 1, max_group: int = 64) -> None:
        self.bus, self.max_group = bus, max_group
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._shutdown = False
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._work, name=f"ordermesh-write-{n}", daemon=True)
            for n in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self._put(_Call(Future(), lambda: fn(*args, **kwargs)))

    def submit_command(self, command: Command) -> Future[Any]:
        """Handle `command` on the write thread; the future holds its result or its error."""
        return self._put(_Handle(Future(), command))

    def _put(self, job: _Job) -> Future[Any]:
        with self._lock:
            if self._shutdown:
                raise RuntimeError("the write queue is shut down")
            self._jobs.put(job)
        return job.future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            if not self._shutdown:
                self._shutdown = True
                for _ in self._threads:
                    self._jobs.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        held: deque[_Job | None] = deque()
        while True:
            job = held.popleft() if held else self._jobs.get()
            if job is None:
                return
            if isinstance(job, _Call):
                if job.future.set_running_or_notify_cancel():
                    try:
                        job.future.set_result(job.call())
                    except BaseException as exc:
                        job.future.set_exception(exc)
                continue
            group = [job]
            while len(group) < self.max_group and self.bus.group_factory is not None:
                try:
                    waiting = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(waiting, _Handle):
                    held.append(waiting)  # runs next, after this group, in its turn
                    break
                group.append(waiting)
            group = [j for j in group if j.future.set_running_or_notify_cancel()]
            try:
                outcomes = self.bus.handle_together([j.command for j in group])
            except BaseException as exc:
                for j in group:
                    j.future.set_exception(exc)
                continue
            for j, outcome in zip(group, outcomes, strict=True):
                if outcome.error is not None:
                    j.future.set_exception(outcome.error)
                else:
                    j.future.set_result(outcome.result)


@dataclass(frozen=True, slots=True)
class _Call:
    future: Future[Any]
    call: Callable[[], Any]


@dataclass(frozen=True, slots=True)
class _Handle:
    future: Future[Any]
    command: Command


_Job = _Call | _Handle
