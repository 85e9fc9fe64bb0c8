"""The one error type of the quickstart: what went wrong, for a human, with the log tail."""

from __future__ import annotations

from alchemiscale_like.errors import AlchemiscaleLikeError


class QuickstartError(AlchemiscaleLikeError):
    """The quickstart cannot go on (a process died, a timeout, a failed task, a busy folder)."""
