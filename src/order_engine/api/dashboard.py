"""The dashboard: a page of plain HTML, CSS and JavaScript modules shipped in the package
(`api/static`), served by the engine itself — nothing to build, nothing from a CDN.

`GET /` answers a browser (a request that prefers `text/html`) with the dashboard and any
other client with the JSON that names the service; `GET /dashboard` is the page whatever
the `Accept`. The page's Content-Security-Policy allows only this origin's scripts,
styles and connections (the feed's WebSocket included)."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import Response
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Vary": "Accept",
}


def _quality(accept: str, media_type: str) -> float:
    """The q-value `accept` gives `media_type` itself (0 when not listed by name)."""
    for part in accept.split(","):
        name, *params = (p.strip() for p in part.split(";"))
        if name.lower() != media_type:
            continue
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    return float(value)
                except ValueError:
                    return 0.0
        return 1.0
    return 0.0


def prefers_html(accept: str | None) -> bool:
    """A browser asking for a page: `text/html` named, and ranked above JSON (`*/*`, as
    curl sends, or `application/json` get the JSON)."""
    if not accept:
        return False
    html = _quality(accept, "text/html")
    return html > 0 and html >= _quality(accept, "application/json")


def page() -> Response:
    body = (STATIC_DIR / "index.html").read_bytes()
    return Response(body, media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


class Assets(StaticFiles):
    """The page's files, revalidated on every load (ETag), so a new version shows at once."""

    def file_response(self, *args: object, **kwargs: object) -> Response:
        response = super().file_response(*args, **kwargs)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def assets() -> Assets:
    return Assets(directory=STATIC_DIR)
