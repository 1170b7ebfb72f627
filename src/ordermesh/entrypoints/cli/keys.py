"""`ordermesh apikey …`: keys for scripts and integrations."""

from __future__ import annotations

import enum

import typer
from rich.table import Table

from ordermesh.domain.errors import DomainError
from ordermesh.entrypoints.cli.context import fail, ordermesh, out

app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


class RoleChoice(enum.StrEnum):
    admin = "admin"
    operator = "operator"
    viewer = "viewer"


@app.command("create")
def create(
    role: RoleChoice = typer.Option(..., "--role", help="What the key may do."),
    name: str = typer.Option("", "--name", help="Who or what uses the key."),
) -> None:
    """Create a key. The key alone is printed on the last line, and only this once."""
    with ordermesh() as om:
        try:
            principal, plain = om.api_keys.create(name or f"{role.value} key (cli)", role.value)
        except DomainError as exc:
            fail(exc.message)
    console = out()
    console.print(
        f"Created {principal.role} API key [bold]{principal.id}[/] ({principal.name}). "
        "Store it now: it cannot be shown again."
    )
    # Plain echo, never wrapped: scripts take the last line.
    typer.echo(plain)


@app.command("list")
def list_keys() -> None:
    """Every key, active or revoked (never the secret)."""
    with ordermesh() as om:
        keys = om.api_keys.list()
    table = Table("id", "name", "role", "prefix", "created", "revoked", title="API keys")
    for key in keys:
        table.add_row(
            key["id"],
            key["name"],
            key["role"],
            key["prefix"],
            _when(key["created_at"]),
            _when(key["revoked_at"]) or "",
        )
    out().print(table if keys else "No API keys yet: `ordermesh apikey create --role admin`.")


@app.command("revoke")
def revoke(key_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Revoke a key at once: requests made with it are refused from now on."""
    with ordermesh() as om:
        try:
            om.api_keys.revoke(key_id)
        except DomainError as exc:
            fail(exc.message)
    out().print(f"Revoked API key {key_id}.")


def _when(value: object) -> str:
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M") if hasattr(value, "strftime") else str(value)
