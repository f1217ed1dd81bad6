"""Signed user and batch tokens (PyJWT, HS256): expiry, single use, tamper-proof.

The original RISE tokens never expired and their ``jti`` was never checked, so a batch could be
submitted many times. Here both kinds carry ``exp``; a batch token is claimed once in the
database (see ``batches.submit_batch_plan``), and one that arrives before its ``nbf`` (too fast to
have watched the clips) is refused with 425 Too Early.

The signing key is never a constant in the code: it comes from the settings, or from a
random key file created with 0600 permissions on first start.
"""

from __future__ import annotations

import os
import secrets
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from smokewatch.labeling.errors import ServiceError
from smokewatch.settings import Settings

__all__ = ["TokenError", "TokenService", "UserClaims", "BatchClaims", "load_signing_key"]

_ALGORITHM = "HS256"


class TokenError(ServiceError):
    """A token that cannot be accepted (401 unless said otherwise)."""

    default_status = 401


@dataclass(frozen=True, slots=True)
class UserClaims:
    user_id: int
    connection_id: int
    jti: str


@dataclass(frozen=True, slots=True)
class BatchClaims:
    batch_id: int
    user_id: int
    video_ids: list[int]
    jti: str


def load_signing_key(settings: Settings) -> bytes:
    """The settings' key, or the key file in ``data_dir`` (created atomically, mode 0600)."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode()
    path = settings.data_dir / "secret.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".secret.key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if another process made the key first: keep theirs
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    key = Path(path).read_bytes().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path}: signing key is too short; delete it to make a new one")
    return key


class TokenService:
    """Issues and checks the two kinds of token with one key and the settings' lifetimes."""

    def __init__(self, key: bytes, settings: Settings) -> None:
        self._key = key
        self._user_ttl = settings.user_token_ttl
        self._batch_ttl = settings.page_token_ttl
        self._batch_wait = settings.page_min_seconds
        # user tokens are sent with every request: remember the ones already verified (until
        # their exp), since PyJWT's checks cost about as much as the rest of a request
        self._verified: dict[str, tuple[UserClaims, int]] = {}

    def _encode(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def user_token(
        self, *, user_id: int, connection_id: int, client_type: int, score: int, raw_score: int
    ) -> str:
        """RISE's user-token claims (its front end reads them) plus ``exp`` and ``typ``."""
        now = int(time.time())
        return self._encode(
            {
                "typ": "user",
                "iat": now,
                "exp": now + self._user_ttl,
                "jti": uuid.uuid4().hex,
                "user_id": user_id,
                "client_type": client_type,
                "connection_id": connection_id,
                "user_score": score,
                "user_raw_score": raw_score,
            }
        )

    def batch_token(self, *, batch_id: int, user_id: int, video_ids: list[int], jti: str) -> str:
        now = int(time.time())
        return self._encode(
            {
                "typ": "batch",
                "iat": now,
                "nbf": now + self._batch_wait,
                "exp": now + self._batch_ttl,
                "jti": jti,
                "video_id_list": video_ids,
                "batch_id": batch_id,
                "user_id": user_id,
            }
        )

    def _decode(self, token: object, kind: str) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise TokenError(
                f"Missing field: {kind}_token" if kind == "user" else "Missing field: video_token",
                400,
            )
        if not token.isascii():  # a signed token is base64url and dots; PyJWT would encode a
            # lone surrogate (valid in a JSON string) to UTF-8 and fail outside its own errors
            raise TokenError(f"Invalid {kind} token: not a token (characters outside ASCII)", 401)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                options={"require": ["exp", "iat", "jti"], "verify_nbf": False},
            )
        except jwt.ExpiredSignatureError:
            raise TokenError(f"The {kind} token has expired; ask for a new one", 401) from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"Invalid {kind} token: {exc}", 401) from None
        if claims.get("typ") != kind:
            raise TokenError(f"Invalid {kind} token: wrong token type", 401)
        # nbf after the type and signature: "too early" is only said of a genuine batch token
        nbf = claims.get("nbf")
        if nbf is not None:
            if not isinstance(nbf, int):
                raise TokenError(f"Invalid {kind} token: nbf is not an integer", 401)
            wait = nbf - int(time.time())
            if wait > 0:
                raise TokenError(
                    f"Too early: look at the clips a little longer (submit in {wait} s)", 425
                )
        return claims

    def check_user(self, token: object) -> UserClaims:
        if isinstance(token, str):
            hit = self._verified.get(token)
            if hit is not None and hit[1] > time.time():
                return hit[0]
        claims = self._decode(token, "user")
        try:
            user = UserClaims(
                int(claims["user_id"]), int(claims["connection_id"]), str(claims["jti"])
            )
        except (KeyError, TypeError, ValueError):
            raise TokenError("Invalid user token: missing claims", 401) from None
        if len(self._verified) >= 10_000:
            self._verified.clear()
        self._verified[str(token)] = (user, int(claims["exp"]))
        return user

    def check_batch(self, token: object) -> BatchClaims:
        claims = self._decode(token, "batch")
        try:
            ids = [int(i) for i in claims["video_id_list"]]
            return BatchClaims(
                int(claims["batch_id"]), int(claims["user_id"]), ids, str(claims["jti"])
            )
        except (KeyError, TypeError, ValueError):
            raise TokenError("Invalid batch token: missing claims", 401) from None
