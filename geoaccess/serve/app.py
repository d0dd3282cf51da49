"""The HTTP side of ``geoaccess serve``: a Starlette app over one :class:`~geoaccess.serve.session.Session`.

Routes: ``GET /`` (the page), ``GET /lib/...`` (Leaflet, the bundle's map plugin and the page's own script, from
the package), ``GET /data/facilities.js`` (the facilities the map draws), ``GET /api/baseline``, ``GET /api/geometry``,
``GET /api/road?lon=&lat=`` (the nearest road link and junction), ``POST /api/scenario``, ``POST /api/save``, ``GET /api/scenarios``
(the saved ones) and ``GET /api/scenarios/<name>`` (one, as a request body).

Guards: on a host other than loopback every request needs the access token (``?token=``, the
``X-Geoaccess-Token`` header, or the cookie the page gets on its first load), else 401; on loopback a request
must name a loopback host (no DNS rebinding). A POST must be ``application/json`` (a page on another site
cannot send one without a preflight this app never answers) and at most ``max_body`` bytes (413).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from geoaccess.errors import InputError
from geoaccess.serve.session import ScenarioRejected, Session, dumps

log = logging.getLogger(__name__)

#: request bodies above this many bytes are refused (413): a scenario of a few thousand edits fits
MAX_BODY_BYTES = 1 << 20
COOKIE = "geoaccess_token"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
STATIC = Path(__file__).resolve().parent / "static"
LEAFLET = Path(__file__).resolve().parents[1] / "outputs" / "static" / "leaflet"
PLUGIN = LEAFLET.parent / "geoaccess"  # the bundle's folium plugin (map.js, geoaccess.css)
SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    # folium writes its map set-up inline; everything else comes from this server only
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
        b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
    ),
]


class _Refused(Exception):
    def __init__(self, status: int, message: str):
        self.status, self.message = status, message


class Guard:
    """ASGI middleware: token (non-loopback) or loopback Host check, and security headers on every answer."""

    def __init__(self, app, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        req = Request(scope)
        refused = self._check(req)
        if refused:
            body = json.dumps({"error": refused[1]}).encode()
            await _plain_send(send, refused[0], body, b"application/json")
            return
        set_cookie = self.token is not None and req.query_params.get("token") == self.token

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", [])) + SECURITY_HEADERS
                if set_cookie:
                    cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
                    headers.append((b"set-cookie", cookie.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def _check(self, req: Request) -> tuple[int, str] | None:
        if self.token is None:
            host = _hostname(req.headers.get("host") or "")
            if host not in LOOPBACK:
                return 403, "this server answers only requests to 127.0.0.1 / localhost"
            return None
        given = req.query_params.get("token") or req.headers.get("x-geoaccess-token") or req.cookies.get(COOKIE) or ""
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return 401, "an access token is required: open the URL geoaccess serve printed (it ends in ?token=...)"
        return None


def _hostname(header: str) -> str:
    """The host of a Host header, without its port (``[::1]:8765`` -> ``[::1]``)."""
    if header.startswith("["):
        return header.split("]", 1)[0] + "]"
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


async def _plain_send(send, status: int, body: bytes, ctype: bytes):
    headers = [(b"content-type", ctype), (b"content-length", str(len(body)).encode()), *SECURITY_HEADERS]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _json_body(request: Request, max_body: int):
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise _Refused(415, "send the scenario as JSON (Content-Type: application/json)")
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > max_body):
        raise _Refused(413, f"the request body is larger than {max_body:,} bytes")
    data = bytearray()
    async for chunk in request.stream():  # a body without a length is counted as it arrives
        data += chunk
        if len(data) > max_body:
            raise _Refused(413, f"the request body is larger than {max_body:,} bytes")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise _Refused(400, f"the request body is not JSON: {err}") from None


def _error(status: int, message: str, problems: list[str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message, "problems": problems or []}, status_code=status)


def create_app(session: Session, page, *, token: str | None = None, max_body: int = MAX_BODY_BYTES):
    """The Starlette app serving ``session``; ``token`` (for a non-loopback host) guards every request.

    ``page`` is :func:`~geoaccess.serve.page.build_page`'s answer: the page's HTML and the facilities script the
    map loads (a plain HTML string serves a page without facilities).
    """
    page_html = page if isinstance(page, str) else page.html
    facilities_js = b"" if isinstance(page, str) else page.facilities_js

    async def page(request: Request):
        return HTMLResponse(page_html, headers={"cache-control": "no-store"})

    async def baseline(request: Request):
        # serialised once at start: never waits for a scenario
        return Response(session.baseline_json, media_type="application/json")

    async def geometry(request: Request):
        return Response(session.geometry_json, media_type="application/json")

    def post(method):
        async def handler(request: Request):
            try:
                body = await _json_body(request, max_body)
                # on the session's own worker thread: scenarios queue there, the event loop keeps answering reads
                answer = await asyncio.wrap_future(session.worker.submit(method, body))
            except _Refused as r:
                return _error(r.status, r.message)
            except ScenarioRejected as err:
                return _error(422, str(err).split("\n", 1)[0], err.problems)
            except InputError as err:  # a scenario name that leads outside the output folder, a locked output
                return _error(422, str(err).split("\n", 1)[0], err.problems or [str(err)])
            return Response(dumps(answer), media_type="application/json")

        return handler

    async def saved(request: Request):
        return JSONResponse({"scenarios": await asyncio.to_thread(session.saved)})

    async def load(request: Request):
        got = await asyncio.to_thread(session.load, request.path_params["name"])
        if got is None:
            return _error(404, f"no saved scenario {request.path_params['name']!r}")
        return Response(dumps(got), media_type="application/json")

    async def facilities(request: Request):
        return Response(facilities_js, media_type="text/javascript; charset=utf-8")

    async def road(request: Request):
        try:
            lon, lat = float(request.query_params["lon"]), float(request.query_params["lat"])
        except (KeyError, ValueError):
            return _error(400, "give the point as ?lon=<degrees>&lat=<degrees>")
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return _error(422, f"no such place: lon {lon}, lat {lat}")
        # not on the scenario thread: a road lookup never waits for a scenario
        return Response(dumps(await asyncio.to_thread(session.road_at, lon, lat)), media_type="application/json")

    async def no_icon(request: Request):
        return Response(status_code=204)

    routes = [
        Route("/", page),
        Route("/favicon.ico", no_icon),
        Route("/api/baseline", baseline),
        Route("/api/geometry", geometry),
        Route("/api/road", road),
        Route("/data/facilities.js", facilities),
        Route("/api/scenario", post(session.run), methods=["POST"]),
        Route("/api/scenarios", saved),
        Route("/api/scenarios/{name}", load),
        Route("/api/save", post(session.save), methods=["POST"]),
        Mount("/lib/leaflet", StaticFiles(directory=LEAFLET)),
        Mount("/lib/geoaccess", StaticFiles(directory=PLUGIN)),
        Mount("/lib/serve", StaticFiles(directory=STATIC)),
    ]
    app = Starlette(routes=routes)
    return Guard(app, token)
