"""Use cases: the message bus and the handlers of every command and event."""
