"""What every response tells the browser: a strict Content-Security-Policy, and no sniffing.

The site's pages load scripts, styles and data only from this service and run no inline
script, so text that reached the database from imported metadata or a volunteer can never run
as script, even where a page would mistakenly treat it as markup. Clips are the exception that
stays open: a clip's ``url_root`` comes from its metadata (RISE's own clips live on
``https://smoke.createlab.org``, a project's on its own host), so ``media-src`` allows any
HTTPS host besides this one; media cannot run script. The API explorer (``/docs``) is the one
page with an inline script and a CDN; it gets a policy of its own, naming that script's hash.
See docs/labeling-api.md ("Browser security").
"""

from __future__ import annotations

import base64
import hashlib
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CSP", "SecurityHeaders"]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' https:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_DOCS_CDN = "https://cdn.jsdelivr.net"
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def _docs_csp(body: bytes) -> str:
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(body)
    )
    return (
        f"default-src 'self'; script-src 'self' {_DOCS_CDN} {hashes}; "
        f"style-src 'self' {_DOCS_CDN}; img-src 'self' data: https://fastapi.tiangolo.com; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )


class SecurityHeaders:
    """Add the policy to every HTTP response that does not set its own."""

    def __init__(self, app: ASGIApp, docs_paths: frozenset[str]) -> None:
        self.app = app
        self.docs_paths = docs_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] in self.docs_paths:
            await self._docs(scope, receive, send)
            return

        async def send_with_policy(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", CSP)
                headers.setdefault("x-content-type-options", "nosniff")
            await send(message)

        await self.app(scope, receive, send_with_policy)

    async def _docs(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The explorer's page is small: hold it, hash its inline scripts, then send it."""
        start: Message | None = None
        chunks: list[bytes] = []

        async def hold(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body") or start is None:
                return
            body = b"".join(chunks)
            headers = MutableHeaders(scope=start)
            headers.setdefault("content-security-policy", _docs_csp(body))
            headers.setdefault("x-content-type-options", "nosniff")
            await send(start)
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, hold)
