"""``geoaccess serve STUDY.toml``: what-if in the browser (issue 16).

The study's baseline is loaded and computed once (:class:`~geoaccess.serve.session.Session`); a page
(:mod:`~geoaccess.serve.page`) lets a planner add, close, upgrade and downgrade facilities on the map and
see the county table, zones and headline figures change; scripts use the same HTTP API
(:mod:`~geoaccess.serve.app`). Needs the ``[serve]`` extra (Starlette and uvicorn).
"""

from __future__ import annotations

import ipaddress
import logging
import secrets
import socket
import sys

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """``True`` for 127.0.0.0/8, ::1 and ``localhost``: only those run without an access token."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_for(host: str, token: str | None = None) -> str | None:
    """The access token for ``host``: ``token`` if given, none on loopback, else a new random one."""
    if token is None and not is_loopback(host):
        token = secrets.token_urlsafe(24)
    return token


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        raise OSError(err.errno, f"cannot listen on {host}:{port}: {err.strerror}; pick another --port") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def make_server(study, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None, warm: bool = True):
    """The uvicorn server for ``study``, its listening socket and the URL to open.

    A host other than loopback gets a random access token (unless ``token`` is given), carried in the URL.
    """
    import uvicorn

    from geoaccess.serve.app import create_app
    from geoaccess.serve.page import build_page
    from geoaccess.serve.session import Session

    token = token_for(host, token)
    session = Session(study, warm=warm)
    app = create_app(session, build_page(session), token=token)
    sock = bind(host, port)
    actual = sock.getsockname()[1]
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    url = f"http://{shown}:{actual}/" + (f"?token={token}" if token else "")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=5)
    return uvicorn.Server(config), sock, url


def serve(study, host: str = "127.0.0.1", port: int = 8765, *, token: str | None = None) -> int:
    """Serve ``study`` until Ctrl-C; prints the URL once the baseline is ready and the port is open."""
    server, sock, url = make_server(study, host, port, token=token)
    print(f"geoaccess: serving {study.settings.title or study.settings.name} at {url}", flush=True)
    print("geoaccess: press Ctrl-C to stop", flush=True)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the signal once it has shut down cleanly
        pass
    finally:
        sock.close()
    print("geoaccess: stopped", file=sys.stderr, flush=True)
    return 0
