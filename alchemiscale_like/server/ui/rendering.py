"""Rendering the dashboard's Jinja2 templates: the environment, its helpers and filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from alchemiscale_like import __version__
from alchemiscale_like.server.ui import charts, formatting
from alchemiscale_like.server.ui.session import base_path
from alchemiscale_like.services.overview import StatusCounts

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")


def _counts(status: StatusCounts | dict[str, int]) -> StatusCounts:
    return status if isinstance(status, StatusCounts) else StatusCounts(status)


# The SVG helpers escape every text they draw, so their output is marked safe.
TEMPLATES.env.globals.update(
    status_bar=lambda status: Markup(charts.status_bar(_counts(status))),  # noqa: S704
    progress_bar=lambda done, total: Markup(charts.progress_bar(done, total)),  # noqa: S704
    status_colours=charts.STATUS_COLOURS,
    version=__version__,
)
TEMPLATES.env.filters.update(
    age=formatting.age,
    when=formatting.when,
    short=formatting.short_key,
    size=formatting.human_size,
    seconds=formatting.seconds,
)


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    """A page or fragment from ``template`` with the common context."""
    full = {"base": base_path(request), **context}
    return TEMPLATES.TemplateResponse(request, template, full, status_code=status_code)
