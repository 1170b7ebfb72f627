"""Ways in: the HTTP API, the dashboard, the CLI and the worker."""
