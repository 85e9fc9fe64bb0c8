"""Request paths with control characters are refused (400) before any route sees them.

Starlette matches route patterns with ``re.match`` and a closing ``$``, which also
matches just before a final newline: ``/tasks/{t}/files/{loc}%0A`` would be routed
as ``/tasks/{t}/files/{loc}`` and ``{attempt}`` of ``1%0A`` read as 1. No key, scope,
file name or number of this API contains a control character, so none may reach it.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from alchemiscale_like.server.errors import error_response

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class RefuseControlCharacters:
    """ASGI middleware: a 400 ``ValidationError`` for a (decoded) path with a control character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request itself if its path is unsafe, else pass it on."""
        if scope["type"] == "http" and _CONTROL.search(scope["path"]):
            response = error_response(
                400, "ValidationError", "the request path contains a control character"
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
