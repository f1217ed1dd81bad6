"""Completion codes: what a crowd worker pastes back into the platform, verified offline.

A code is a JWT (PyJWT, HS256, as ``tokens.py``) naming the study, the platform, the worker,
the platform's assignment id and how the worker did on the gold standards. It is signed with a
key derived from the site's signing key, so a code is neither a user token nor a batch token
(and cannot be made from one), and ``smokewatch crowd verify`` needs only the site's secret and
the code: no database. It carries no ``exp``: platforms review work for weeks.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import asdict, dataclass
from typing import Any

import jwt

from smokewatch.labeling.errors import ServiceError

__all__ = ["CodeError", "Completion", "completion_key", "issue_code", "verify_code"]

_ALGORITHM = "HS256"
_TYPE = "crowd-completion"


class CodeError(ServiceError):
    """A completion code that is not one of this site's, or not the one expected."""


@dataclass(frozen=True, slots=True)
class Completion:
    """What a genuine code says."""

    study: int
    platform: str
    worker: str
    assignment: str
    task: int
    gold_right: int
    gold_total: int
    time: int

    @property
    def accepted(self) -> bool:
        """Every gold standard answered right (the paper's rule for keeping a worker's page)."""
        return self.gold_right >= self.gold_total

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "accepted": self.accepted}


def completion_key(site_key: bytes) -> bytes:
    """The codes' own key, derived from the site's (so codes and tokens never verify as each
    other, and the site key is not used twice for different kinds of thing)."""
    return hmac.new(site_key, b"smokewatch crowd completion code v1", hashlib.sha256).digest()


def issue_code(site_key: bytes, completion: Completion) -> str:
    claims = {
        "typ": _TYPE,
        "iat": completion.time,
        "study": completion.study,
        "platform": completion.platform,
        "worker": completion.worker,
        "assignment": completion.assignment,
        "task": completion.task,
        "gold": [completion.gold_right, completion.gold_total],
    }
    return jwt.encode(claims, completion_key(site_key), algorithm=_ALGORITHM)


def verify_code(
    site_key: bytes,
    code: str,
    *,
    study: int | None = None,
    worker: str | None = None,
    assignment: str | None = None,
) -> Completion:
    """The completion a code records; :class:`CodeError` if it is tampered with, made with
    another key, or (when given) for another study, worker or assignment."""
    try:
        claims = jwt.decode(
            code.strip(),
            completion_key(site_key),
            algorithms=[_ALGORITHM],
            options={"require": ["iat"], "verify_iat": False},
        )
    except jwt.InvalidTokenError as exc:
        raise CodeError(f"not a valid completion code of this site: {exc}", 400) from None
    if claims.get("typ") != _TYPE:
        raise CodeError("not a completion code", 400)
    try:
        gold_right, gold_total = (int(v) for v in claims["gold"])
        found = Completion(
            study=int(claims["study"]),
            platform=str(claims["platform"]),
            worker=str(claims["worker"]),
            assignment=str(claims["assignment"]),
            task=int(claims["task"]),
            gold_right=gold_right,
            gold_total=gold_total,
            time=int(claims["iat"]),
        )
    except (KeyError, TypeError, ValueError):
        raise CodeError("a completion code with missing claims", 400) from None
    for name, want, have in (
        ("study", study, found.study),
        ("worker", worker, found.worker),
        ("assignment", assignment, found.assignment),
    ):
        if want is not None and want != have:
            raise CodeError(f"this code is for {name} {have!r}, not {want!r}", 400)
    return found
