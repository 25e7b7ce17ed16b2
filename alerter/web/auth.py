"""Who may change things in the web UI, and proof that a change came from the UI itself.

Reading is open to whoever reaches the address (loopback by default). A change (a
silence added or expired) needs, in this order of checks:

1. the UI not in read-only mode, and credentials configured at all (a bearer token
   and/or a basic-auth user and password, each named by a ``*_env`` key);
2. a request that is not cross-site: ``Sec-Fetch-Site`` (when sent) is ``same-origin``
   or ``none``, and ``Origin`` (when sent) is this server's own origin;
3. credentials: ``Authorization: Bearer`` or ``Basic``, or the session cookie that
   ``/ui/login`` sets after checking the token;
4. for the credentials a browser sends by itself (basic auth, the cookie), the form's
   CSRF token, an HMAC of the identity under a key that lives only in this process.

Every comparison of a secret is constant-time; no secret is ever put in a page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import CookieError, SimpleCookie

from alerter.config import HttpConfig
from alerter.errors import ConfigError

COOKIE = "alerter_ui"
SESSION_TTL = timedelta(hours=12)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]", "::1")


@dataclass(frozen=True, slots=True)
class Credentials:
    """The secrets that allow changes; ``repr`` never shows them."""

    token: str | None
    user: str | None
    password: str | None

    def __repr__(self) -> str:
        return (
            f"Credentials(token={'set' if self.token else None}, "
            f"basic={'set' if self.user else None})"
        )

    @property
    def any(self) -> bool:
        return bool(self.token or self.user)

    @classmethod
    def from_config(cls, cfg: HttpConfig, env: Mapping[str, str]) -> Credentials:
        """Read the variables named by ``ui_token_env``, ``ui_user_env`` and
        ``ui_password_env``; raises ``ConfigError`` naming the key when one is unset."""

        def read(key: str, name: str | None) -> str | None:
            if name is None:
                return None
            value = env.get(name, "")
            if not value:
                raise ConfigError(f"[alerter.http] {key} = {name!r}: the variable is not set")
            return value

        token = read("ui_token_env", cfg.ui_token_env)
        user = read("ui_user_env", cfg.ui_user_env)
        password = read("ui_password_env", cfg.ui_password_env)
        if (user is None) != (password is None):
            raise ConfigError("[alerter.http] ui_user_env and ui_password_env: set both or neither")
        return cls(token, user, password)

    def secrets(self) -> list[str]:
        return [s for s in (self.token, self.password) if s]


@dataclass(frozen=True, slots=True)
class Identity:
    """Who made a request: ``kind`` is ``bearer``, ``basic`` or ``session``."""

    kind: str
    name: str
    key: str
    """What the CSRF token is bound to (the user, or the session id)."""


class Refused(Exception):
    """A change was refused: ``status`` (401 or 403) and a message for the page."""

    def __init__(self, status: int, message: str, *, challenge: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.challenge = challenge


class Guard:
    """Checks identity, origin and CSRF tokens for the UI's changes."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        read_only: bool,
        bound_host: str,
        key: bytes | None = None,
    ) -> None:
        self.credentials = credentials
        self.read_only = read_only
        self.bound_host = bound_host
        self._key = key or secrets.token_bytes(32)
        self._sessions: dict[str, datetime] = {}

    @property
    def changes_allowed(self) -> bool:
        return not self.read_only and self.credentials.any

    # -- host ------------------------------------------------------------------------
    def host_ok(self, headers: Mapping[str, str]) -> bool:
        """On a loopback address only loopback host names are served (no DNS rebinding)."""
        if self.bound_host not in LOOPBACK_NAMES:
            return True
        host = headers.get("host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in LOOPBACK_NAMES

    # -- identity --------------------------------------------------------------------
    def identify(self, headers: Mapping[str, str], now: datetime) -> Identity | None:
        """The identity proven by the request's credentials, or None."""
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        creds = self.credentials
        if scheme.lower() == "bearer" and creds.token:
            if hmac.compare_digest(value.strip().encode(), creds.token.encode()):
                return Identity("bearer", "token", "bearer")
            return None
        if scheme.lower() == "basic" and creds.user and creds.password:
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None
            user, _, password = decoded.partition(":")
            user_ok = hmac.compare_digest(user.encode(), creds.user.encode())
            pass_ok = hmac.compare_digest(password.encode(), creds.password.encode())
            return (
                Identity("basic", creds.user, "basic:" + creds.user)
                if user_ok and pass_ok
                else None
            )
        sid = self.session_id(headers)
        if sid is not None:
            expires = self._sessions.get(sid)
            if expires is not None and now < expires:
                return Identity("session", "token", "session:" + sid)
        return None

    @staticmethod
    def session_id(headers: Mapping[str, str]) -> str | None:
        raw = headers.get("cookie")
        if not raw:
            return None
        try:
            jar: SimpleCookie = SimpleCookie(raw)
        except CookieError:
            return None
        morsel = jar.get(COOKIE)
        return morsel.value if morsel is not None else None

    def login(self, token: str, now: datetime) -> str | None:
        """A new session id when ``token`` is the configured token, else None."""
        if not self.credentials.token or not hmac.compare_digest(
            token.encode(), self.credentials.token.encode()
        ):
            return None
        for sid in [s for s, t in self._sessions.items() if t <= now]:
            del self._sessions[sid]
        sid = secrets.token_urlsafe(32)
        self._sessions[sid] = now + SESSION_TTL
        return sid

    def logout(self, headers: Mapping[str, str]) -> None:
        sid = self.session_id(headers)
        if sid is not None:
            self._sessions.pop(sid, None)

    # -- csrf ------------------------------------------------------------------------
    def csrf_token(self, identity: Identity) -> str:
        return hmac.new(self._key, identity.key.encode(), hashlib.sha256).hexdigest()

    @staticmethod
    def same_origin(headers: Mapping[str, str]) -> bool:
        """False for a request a browser marks as cross-site or from another origin."""
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return False
        origin = headers.get("origin")
        if origin is not None and origin != "null":
            host = headers.get("host", "")
            return origin in (f"http://{host}", f"https://{host}")
        return origin is None

    # -- the check -------------------------------------------------------------------
    def check_change(
        self, headers: Mapping[str, str], form: Mapping[str, str], now: datetime
    ) -> Identity:
        """The identity allowed to make this change; raises ``Refused`` otherwise."""
        if self.read_only:
            raise Refused(403, "This UI is read-only ([alerter.http] ui_read_only = true).")
        if not self.credentials.any:
            raise Refused(
                403,
                "Changes are off: no credentials are configured "
                "([alerter.http] ui_token_env, or ui_user_env and ui_password_env).",
            )
        if not self.same_origin(headers):
            raise Refused(403, "Cross-site request refused.")
        identity = self.identify(headers, now)
        if identity is None:
            raise Refused(
                401,
                "Sign in to make changes: the sign-in page (/ui/login), basic auth, "
                "or a bearer token.",
                challenge=True,
            )
        if identity.kind != "bearer":
            sent = form.get("csrf", "")
            if not hmac.compare_digest(sent.encode(), self.csrf_token(identity).encode()):
                raise Refused(403, "Missing or stale form token: reload the page and try again.")
        return identity
