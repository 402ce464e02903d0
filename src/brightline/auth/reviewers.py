"""Reviewer accounts for the console: scrypt password hashes, roles and cookie sessions.

Passwords are stored as ``scrypt$n$r$p$salt$hash`` (hashlib.scrypt, 16-byte random salt) and
compared in constant time; an unknown user name costs the same scrypt as a wrong password, and
both fail with the same message. Sessions store only the SHA-256 digest of their cookie token:
a copy of the database lets nobody log in.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import IntegrityError

from brightline.errors import AuthenticationError, ConflictError, NotFoundError, ValidationError
from brightline.store.audit import append_audit
from brightline.store.db import Database
from brightline.store.models import utcnow
from brightline.store.models_cases import REVIEWER_ROLES, console_sessions_table, reviewers_table

_R = reviewers_table.c
_S = console_sessions_table.c
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
MAX_DISPLAY_NAME = 128
# scrypt cost: 16 MiB and ~50 ms per hash, OWASP's recommended minimum.
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_SALT_BYTES = 16
_KEY_BYTES = 32
_TOKEN_BYTES = 32
_GENERIC = "wrong user name or password"
# last_seen_at is written at most this often per session, so browsing is not a write per page.
_SEEN_EVERY = timedelta(seconds=60)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str) -> str:
    """A fresh salted scrypt hash of ``password`` in the stored text form."""
    salt = secrets.token_bytes(_SALT_BYTES)
    key = hashlib.scrypt(password.encode(), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=_KEY_BYTES)
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison; malformed hashes never match)."""
    try:
        scheme, n, r, p, salt, key = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = _unb64(key)
        # maxmem above the 128*n*r bytes scrypt needs, so stronger parameters stored later still verify.
        actual = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=len(expected), maxmem=2**27
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


# Verified against when the user name is unknown, so both failures take as long.
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))


def token_digest(token: str) -> str:
    """What the database keeps of a session token."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class ReviewerInfo:
    """A reviewer account, minus its password hash."""

    id: int
    username: str
    display_name: str
    role: str
    daily_cap: int | None
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @property
    def is_admin(self) -> bool:
        """Admins manage reviewers and may decide items others claimed."""
        return self.role == "admin"

    @property
    def label(self) -> str:
        """How logs and case events name this reviewer."""
        return f"reviewer:{self.username}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "id": self.id,
            "username": self.username,
            "display_name": self.display_name,
            "role": self.role,
            "daily_cap": self.daily_cap,
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "last_login_at": None if self.last_login_at is None else self.last_login_at.isoformat(),
        }


@dataclass(frozen=True)
class SessionInfo:
    """A console login: when it started, expires and last reminded its reviewer to take a break."""

    id: int
    reviewer_id: int
    csrf_token: str
    created_at: datetime
    expires_at: datetime
    last_seen_at: datetime
    break_reminded_at: datetime | None


def _info(row: Row[Any]) -> ReviewerInfo:
    return ReviewerInfo(
        id=row.id,
        username=row.username,
        display_name=row.display_name,
        role=row.role,
        daily_cap=row.daily_cap,
        active=bool(row.active),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def _session_info(row: Row[Any]) -> SessionInfo:
    return SessionInfo(
        id=row.id,
        reviewer_id=row.reviewer_id,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_seen_at=row.last_seen_at,
        break_reminded_at=row.break_reminded_at,
    )


def _username(username: str) -> str:
    text = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.fullmatch(text):
        raise ValidationError(
            f"invalid user name {username!r}: 1-64 letters, digits, '.', '_', '-' or '@', "
            "starting with a letter or digit"
        )
    return text


def _password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise ValidationError(f"a password must be {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def _role(role: str) -> str:
    if role not in REVIEWER_ROLES:
        raise ValidationError(f"role must be one of {', '.join(REVIEWER_ROLES)}, got {role!r}")
    return role


def _cap(daily_cap: int | None) -> int | None:
    if daily_cap is not None and (isinstance(daily_cap, bool) or not isinstance(daily_cap, int) or daily_cap < 0):
        raise ValidationError(f"daily cap must be a whole number of at least 0, got {daily_cap!r}")
    return daily_cap


class ReviewerService:
    """Reviewer accounts and their console sessions; each public method is one transaction."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def _row(self, conn: Connection, username: str) -> Row[Any]:
        row = conn.execute(sa.select(reviewers_table).where(_R.username == _username(username))).first()
        if row is None:
            raise NotFoundError(f"no reviewer named {username!r}")
        return row

    def create(
        self,
        username: str,
        password: str,
        role: str = "reviewer",
        display_name: str = "",
        daily_cap: int | None = None,
        *,
        actor: str = "system",
    ) -> ReviewerInfo:
        """A new active reviewer; ConflictError if the user name is taken."""
        name = _username(username)
        values = {
            "username": name,
            "password_hash": hash_password(_password(password)),
            "role": _role(role),
            "display_name": str(display_name)[:MAX_DISPLAY_NAME] or name,
            "daily_cap": _cap(daily_cap),
            "active": True,
            "created_at": utcnow(),
        }
        try:
            with self._db.session(write=True) as session:
                conn = session.connection()
                if conn.execute(sa.select(_R.id).where(_R.username == name)).first() is not None:
                    raise ConflictError(f"a reviewer named {name!r} already exists")
                conn.execute(sa.insert(reviewers_table).values(**values))
                info = _info(self._row(conn, name))
                append_audit(
                    conn,
                    actor=actor,
                    action="reviewer.created",
                    subject=f"reviewer:{name}",
                    details={"reviewer_id": info.id, "username": name, "role": info.role},
                )
                return info
        except IntegrityError:
            raise ConflictError(f"a reviewer named {name!r} already exists") from None

    def get(self, reviewer_id: int) -> ReviewerInfo:
        """The reviewer with that id; NotFoundError."""
        with self._db.session() as session:
            row = session.execute(sa.select(reviewers_table).where(_R.id == reviewer_id)).first()
        if row is None:
            raise NotFoundError(f"no reviewer with id {reviewer_id}")
        return _info(row)

    def list(self) -> builtins.list[ReviewerInfo]:
        """Every reviewer, by user name."""
        with self._db.session() as session:
            found = session.execute(sa.select(reviewers_table).order_by(_R.username)).all()
        return [_info(r) for r in found]

    def authenticate(self, username: str, password: str) -> ReviewerInfo:
        """The active reviewer these credentials belong to; AuthenticationError (one message for every failure)."""
        try:
            name = _username(username)
        except ValidationError:
            name = ""
        with self._db.session(write=True) as session:
            conn = session.connection()
            row = conn.execute(sa.select(reviewers_table).where(_R.username == name)).first() if name else None
            ok = verify_password(str(password), row.password_hash if row is not None else _DUMMY_HASH)
            if row is not None and ok and row.active:
                conn.execute(sa.update(reviewers_table).where(_R.id == row.id).values(last_login_at=utcnow()))
                append_audit(
                    conn,
                    actor=f"reviewer:{name}",
                    action="reviewer.login",
                    subject=f"reviewer:{name}",
                    details={"reviewer_id": row.id},
                )
                return _info(self._row(conn, name))
        # Its own transaction: the failed attempt is kept. A name no reviewer has is not written
        # down, as people do type their password into the user name box.
        with self._db.session(write=True) as session:
            known = name if row is not None else ""
            append_audit(
                session, actor="anonymous", action="reviewer.login_failed", subject="", details={"username": known}
            )
        raise AuthenticationError(_GENERIC)

    def set_password(self, username: str, password: str) -> ReviewerInfo:
        """Replace a reviewer's password and end their sessions."""
        hashed = hash_password(_password(password))
        with self._db.session(write=True) as session:
            conn = session.connection()
            row = self._row(conn, username)
            conn.execute(sa.update(reviewers_table).where(_R.id == row.id).values(password_hash=hashed))
            conn.execute(sa.delete(console_sessions_table).where(_S.reviewer_id == row.id))
            return _info(self._row(conn, username))

    def deactivate(self, username: str, *, actor: str = "system") -> ReviewerInfo:
        """Stop a reviewer logging in and end their sessions (their decisions stay attributed to them)."""
        with self._db.session(write=True) as session:
            conn = session.connection()
            row = self._row(conn, username)
            conn.execute(sa.update(reviewers_table).where(_R.id == row.id).values(active=False))
            append_audit(
                conn,
                actor=actor,
                action="reviewer.deactivated",
                subject=f"reviewer:{row.username}",
                details={"reviewer_id": row.id, "username": row.username},
            )
            conn.execute(sa.delete(console_sessions_table).where(_S.reviewer_id == row.id))
            return _info(self._row(conn, username))

    # --- sessions -----------------------------------------------------------------------

    def start_session(self, reviewer_id: int, minutes: int) -> tuple[str, str]:
        """A new login lasting ``minutes``: (cookie token, CSRF token); only the token's digest is kept."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes < 1:
            raise ValidationError(f"session minutes must be at least 1, got {minutes!r}")
        token = secrets.token_urlsafe(_TOKEN_BYTES)
        csrf = secrets.token_urlsafe(_TOKEN_BYTES)
        now = utcnow()
        with self._db.session(write=True) as session:
            conn = session.connection()
            owner = conn.execute(sa.select(_R.active).where(_R.id == reviewer_id)).first()
            if owner is None or not owner.active:
                raise AuthenticationError("unknown or inactive reviewer")
            # Expired sessions of anyone are swept here, so the table never grows without bound.
            conn.execute(sa.delete(console_sessions_table).where(_S.expires_at <= now))
            conn.execute(
                sa.insert(console_sessions_table).values(
                    token_hash=token_digest(token),
                    reviewer_id=reviewer_id,
                    csrf_token=csrf,
                    created_at=now,
                    expires_at=now + timedelta(minutes=minutes),
                    last_seen_at=now,
                )
            )
        return token, csrf

    def session(self, token: str) -> tuple[ReviewerInfo, SessionInfo]:
        """The reviewer and session a cookie token belongs to; AuthenticationError if unknown, expired or inactive."""
        if not isinstance(token, str) or not 16 <= len(token) <= 128:
            raise AuthenticationError("not logged in")
        now = utcnow()
        with self._db.session() as session:
            row = session.execute(sa.select(console_sessions_table).where(_S.token_hash == token_digest(token))).first()
            owner = (
                None
                if row is None
                else session.execute(sa.select(reviewers_table).where(_R.id == row.reviewer_id)).first()
            )
        if row is None or owner is None or row.expires_at <= now or not owner.active:
            raise AuthenticationError("not logged in, or the session expired")
        if now - row.last_seen_at >= _SEEN_EVERY:
            with self._db.session(write=True) as session:
                session.execute(sa.update(console_sessions_table).where(_S.id == row.id).values(last_seen_at=now))
        return _info(owner), _session_info(row)

    def remind_break(self, token: str) -> None:
        """Note that the session's reviewer was just reminded to take a break (the next reminder counts from now)."""
        with self._db.session(write=True) as session:
            session.execute(
                sa.update(console_sessions_table)
                .where(_S.token_hash == token_digest(str(token)))
                .values(break_reminded_at=utcnow())
            )

    def end_session(self, token: str) -> None:
        """Log out: forget the session (unknown tokens are ignored)."""
        with self._db.session(write=True) as session:
            session.execute(sa.delete(console_sessions_table).where(_S.token_hash == token_digest(str(token))))
