"""Dashboard users: a name, an argon2 password hash and one of the roles API keys have.

Passwords are slow-hashed with argon2id (unlike API keys, which are long random secrets);
hashes made with older parameters are upgraded on the next successful login."""

from __future__ import annotations

import secrets
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ordermesh.adapters.db import tables as t
from ordermesh.adapters.db.engine import Database
from ordermesh.domain.access import Principal, Role
from ordermesh.domain.errors import AlreadyExists, NotFound, ValidationFailed
from ordermesh.domain.ids import new_id
from ordermesh.ports.clock import Clock

_u = t.users.c
MIN_PASSWORD = 10
FIRST_ADMIN = "admin"
# Verified against when the user does not exist, so a wrong name costs as long as a wrong
# password and response times do not reveal which usernames exist.
_DUMMY_PASSWORD = "not-a-real-password"


class SqlUsers:
    def __init__(self, db: Database, clock: Clock, hasher: PasswordHasher | None = None) -> None:
        self.db, self.clock = db, clock
        self.hasher = hasher or PasswordHasher()
        self._dummy_hash: str | None = None

    def _write(self, statement: Any) -> Any:
        with self.db.write() as conn:
            return conn.execute(statement)

    def create(self, username: str, password: str, role: Role | str) -> Principal:
        try:
            role = Role(role)
        except ValueError as exc:
            allowed = ", ".join(r.value for r in Role)
            raise ValidationFailed(f"role must be one of {allowed}", field="role") from exc
        name = username.strip()
        if not name or len(name) > 100:
            raise ValidationFailed("a username has 1 to 100 characters", field="username")
        if len(password) < MIN_PASSWORD:
            raise ValidationFailed(
                f"a password has at least {MIN_PASSWORD} characters", field="password"
            )
        user_id = new_id("usr")
        try:
            self._write(
                insert(t.users).values(
                    id=user_id,
                    username=name,
                    password_hash=self.hasher.hash(password),
                    role=str(role),
                    created_at=self.clock.now(),
                )
            )
        except IntegrityError as exc:
            raise AlreadyExists(f"a user named {name} exists", field="username") from exc
        return Principal(user_id, name, role)

    def authenticate(self, username: str, password: str) -> Principal | None:
        """The user if the password is theirs and the account is not disabled, else None."""
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(_u.id, _u.username, _u.role, _u.password_hash).where(
                    _u.username == username.strip(), _u.disabled_at.is_(None)
                )
            ).first()
        if row is None and self._dummy_hash is None:
            self._dummy_hash = self.hasher.hash(_DUMMY_PASSWORD)
        try:
            self.hasher.verify(row.password_hash if row else self._dummy_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        if row is None:
            return None
        changes: dict[str, Any] = {"last_login_at": self.clock.now()}
        if self.hasher.check_needs_rehash(row.password_hash):
            changes["password_hash"] = self.hasher.hash(password)
        self._write(update(t.users).where(_u.id == row.id).values(**changes))
        return Principal(row.id, row.username, Role(row.role))

    def get(self, user_id: str) -> Principal | None:
        """The active user with this id: a session names its user, who may since be disabled."""
        with self.db.reader.connect() as conn:
            row = conn.execute(
                select(_u.id, _u.username, _u.role).where(
                    _u.id == user_id, _u.disabled_at.is_(None)
                )
            ).first()
        return Principal(row.id, row.username, Role(row.role)) if row else None

    def disable(self, user_id: str) -> None:
        done = self._write(
            update(t.users)
            .where(_u.id == user_id, _u.disabled_at.is_(None))
            .values(disabled_at=self.clock.now())
        )
        if done.rowcount == 0:
            raise NotFound(f"no active user {user_id}", field="id")

    def list(self) -> list[dict[str, Any]]:
        with self.db.reader.connect() as conn:
            rows = conn.execute(
                select(
                    _u.id, _u.username, _u.role, _u.created_at, _u.last_login_at, _u.disabled_at
                ).order_by(_u.username)
            ).all()
        return [dict(r._mapping) for r in rows]

    def count(self) -> int:
        with self.db.reader.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(t.users)).scalar_one())

    def ensure_first_admin(self) -> tuple[str, str] | None:
        """On a database with no user yet, create `admin` with a random password and return
        (username, password) — the only time the password is visible. None if users exist."""
        if self.count():
            return None
        password = secrets.token_urlsafe(12)
        try:
            self.create(FIRST_ADMIN, password, Role.ADMIN)
        except AlreadyExists:
            return None
        return FIRST_ADMIN, password
