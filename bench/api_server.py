"""`python -m bench.api_server URL PORT`: the API on a benchmark database, in its own process."""

from __future__ import annotations

import sys

from ordermesh.bootstrap import bootstrap
from ordermesh.config import Settings


def main() -> None:
    url, port = sys.argv[1], int(sys.argv[2])
    om = bootstrap(
        Settings(database_url=url, env="test", log_level="WARNING", db_pool_size=20),
        migrate=False,
    )
    # Imported here so that a missing API is reported by the parent as a skip, not a crash.
    from ordermesh.entrypoints.api.server import serve

    try:
        serve(om, "127.0.0.1", port)
    finally:
        om.close()


if __name__ == "__main__":
    main()
