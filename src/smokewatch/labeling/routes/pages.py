"""The web pages: server-rendered shells (Jinja2) whose scripts call only the JSON API.

Each page is a template plus one ES module under ``/static/js/``; nothing is fetched from
anywhere but this service. The original site's addresses (``index.html``, ``label.html``,
``tutorial.html``, ``gallery.html``) redirect here, keeping their query strings.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from smokewatch import __version__

__all__ = ["router", "WEB_DIR"]

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
templates = Jinja2Templates(directory=WEB_DIR / "templates")
router = APIRouter(include_in_schema=False)

#: path -> (template, title, navigation key)
PAGES = {
    "/": ("home.html", "Help spot industrial smoke", "home"),
    "/label": ("label.html", "Label clips", "label"),
    "/tutorial": ("tutorial.html", "Tutorial", "tutorial"),
    "/review": ("review.html", "Review clips", "review"),
    "/gallery": ("gallery.html", "Gallery", "gallery"),
    "/dashboard": ("dashboard.html", "Dashboard", "dashboard"),
    "/events": ("events.html", "Smoke events", "events"),
    "/login": ("login.html", "Researcher sign-in", "login"),
    "/crowd": ("crowd.html", "Crowd task", "crowd"),
    "/crowd/studies": ("crowd_study.html", "Crowd studies", "crowd-studies"),
}
LEGACY = {
    "/index.html": "/",
    "/label.html": "/label",
    "/tutorial.html": "/tutorial",
    "/gallery.html": "/gallery",
}


def _page(template: str, title: str, nav: str):  # type: ignore[no-untyped-def]
    def render(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(
            request,
            template,
            {"title": title, "nav": nav, "version": __version__},
            headers={"Cache-Control": "no-cache"},
        )

    render.__name__ = f"page_{nav}"
    return render


def _redirect(target: str):  # type: ignore[no-untyped-def]
    def go(request: Request) -> RedirectResponse:
        query = request.url.query
        return RedirectResponse(target + (f"?{query}" if query else ""), status_code=301)

    go.__name__ = f"legacy_{target.strip('/') or 'home'}"
    return go


for _path, (_template, _title, _nav) in PAGES.items():
    router.add_api_route(_path, _page(_template, _title, _nav), methods=["GET"])
for _old, _new in LEGACY.items():
    router.add_api_route(_old, _redirect(_new), methods=["GET"])
