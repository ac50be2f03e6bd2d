"""The page's HTTP server: Starlette on uvicorn, in a thread of its own.

Security, all in this module: every visitor gets a session cookie (HttpOnly, SameSite=Strict)
with a CSRF token; with ``web.password_hash`` set the session must log in first (failed logins
from one address are limited, then locked out for a doubling wait); every write is a POST or PUT
carrying the token in ``X-CSRF-Token`` (a forged cross-site request cannot read it); request
bodies are bounded (``web.max_body_bytes``, 413); the page's files are read into memory at start
and served from a fixed table, so no path from a request ever reaches the file system.
``/healthz`` and ``/metrics`` are open (no picture, no setting: what systemd and Prometheus need).
"""

from __future__ import annotations

import asyncio
import hmac
import secrets
import socket
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from edge.config import ConfigError, WebConfig
from edge.config.passwords import verify_password
from edge.install.walk import DEFAULT_WALK_S
from edge.web.metrics import CONTENT_TYPE_LATEST
from edge.web.view import DRAIN_S, LiveView

log = structlog.get_logger("stopsafe.web")

COOKIE = "stopsafe_session"
CSRF_HEADER = "x-csrf-token"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
OPEN_PATHS = frozenset({"/healthz", "/metrics", "/login", "/api/login", "/api/session",
                        "/static/style.css", "/static/login.js"})
SESSION_PATHS = frozenset({"/", "/login", "/api/session"})  # a GET here starts a session
MAX_SESSIONS = 256  # the oldest session is dropped beyond this (a flood of visitors)
MAX_CLIENTS_TRACKED = 1024  # addresses whose failed logins are remembered
RELOAD_WAIT_S = 15.0  # the frame thread applies a reload between two cycles
STATIC = {  # the page's files: request path -> (package file, content type)
    "/static/app.js": ("app.js", "text/javascript; charset=utf-8"),
    "/static/login.js": ("login.js", "text/javascript; charset=utf-8"),
    "/static/style.css": ("style.css", "text/css; charset=utf-8"),
}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _package_text(name: str) -> str:
    return resources.files("edge.web").joinpath("static", name).read_text(encoding="utf-8")


@dataclass
class Session:
    csrf: str
    expires: float
    logged_in: bool


class Sessions:
    """Sessions in memory (a restart logs everyone out, which is fine for an installer)."""

    def __init__(self, lifetime_s: float) -> None:
        self.lifetime_s = lifetime_s
        self._lock = threading.Lock()
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            s = self._by_id.get(sid)
            if s is not None and s.expires < time.monotonic():
                del self._by_id[sid]
                return None
            return s

    def new(self, logged_in: bool) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        s = Session(secrets.token_urlsafe(32), time.monotonic() + self.lifetime_s, logged_in)
        with self._lock:
            self._by_id[sid] = s
            while len(self._by_id) > MAX_SESSIONS:
                self._by_id.popitem(last=False)
        return sid, s

    def drop(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


class LoginLimiter:
    """Failed logins per client address: after ``failures`` of them, no password is even
    checked until the lockout (doubling with each further failure) has passed."""

    def __init__(self, failures: int, lockout_s: float) -> None:
        self.failures, self.lockout_s = failures, lockout_s
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, tuple[int, float]] = OrderedDict()  # (failures, until)

    def wait_s(self, client: str) -> float:
        with self._lock:
            _, until = self._seen.get(client, (0, 0.0))
        return max(0.0, until - time.monotonic())

    def failed(self, client: str) -> None:
        with self._lock:
            n, _ = self._seen.pop(client, (0, 0.0))
            n += 1
            over = n - self.failures
            until = time.monotonic() + self.lockout_s * 2 ** min(over, 16) if over >= 0 else 0.0
            self._seen[client] = (n, until)
            while len(self._seen) > MAX_CLIENTS_TRACKED:
                self._seen.popitem(last=False)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._seen.pop(client, None)


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes is answered 413, whether announced by
    Content-Length or sent in chunks, and never read into memory."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.limit
                except ValueError:
                    too_big = True
                if too_big:
                    await _too_large(self.limit)(scope, receive, send)
                    return
        seen = 0

        async def bounded() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:  # the route reading it answers 413
                    raise HTTPException(413, f"request body larger than {self.limit} bytes")
            return message

        await self.app(scope, bounded, send)


def _too_large(limit: int) -> Response:
    return JSONResponse({"error": f"request body larger than {limit} bytes"}, status_code=413)


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _points(value: Any, name: str) -> list[tuple[float, float]]:
    """A polygon from JSON as numbers; the config's own rules judge it afterwards."""
    if not isinstance(value, list) or not all(
            isinstance(p, list) and len(p) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in p)
            for p in value):
        raise ValueError(f"{name}: a list of [x, y] points (numbers, fractions of the frame)")
    return [(float(x), float(y)) for x, y in value]


class WebApp:
    """The routes, bound to one stop's view and control."""

    def __init__(self, web: WebConfig, view: LiveView) -> None:
        self.web = web
        self.view = view
        self.sessions = Sessions(web.session_s)
        self.limiter = LoginLimiter(web.login_failures, web.lockout_s)
        self.files = {path: (_package_text(name), kind) for path, (name, kind) in STATIC.items()}
        self.pages = {name: _package_text(name) for name in ("index.html", "login.html")}
        routes = [
            Route("/", self.index), Route("/login", self.login_page),
            Route("/api/login", self.login, methods=["POST"]),
            Route("/api/logout", self.logout, methods=["POST"]),
            Route("/api/session", self.session),
            Route("/api/state", self.state), Route("/api/frame.jpg", self.frame),
            Route("/api/zone", self.zone, methods=["PUT"]),
            Route("/api/walk", self.walk, methods=["GET", "POST"]),
            Route("/api/selftest", self.selftest, methods=["POST"]),
            Route("/healthz", self.healthz), Route("/metrics", self.metrics),
            *(Route(path, self.static) for path in STATIC),
        ]
        # outermost first: the body bound, then the guard, then the routes
        self.asgi = BodyLimit(self._guard(Starlette(routes=routes)), web.max_body_bytes)

    # ---------------- the guard: session, login, CSRF ----------------
    def _guard(self, inner: Any) -> Any:
        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return
            request = Request(scope)
            path, method = scope["path"], scope["method"]
            sid = request.cookies.get(COOKIE)
            session = self.sessions.get(sid)
            new_cookie = None
            if session is None and method == "GET" and path in SESSION_PATHS:
                sid, session = self.sessions.new(logged_in=not self.web.login_required)
                new_cookie = sid
            scope.setdefault("state", {})["session"] = (sid, session)

            async def send_with_headers(message: Any) -> None:
                if message["type"] == "http.response.start":
                    headers = list(message.get("headers", []))
                    headers += [(k.lower().encode(), v.encode())
                                for k, v in SECURITY_HEADERS.items()]
                    if new_cookie is not None:
                        headers.append((b"set-cookie", _cookie(new_cookie, self.web).encode()))
                    message = {**message, "headers": headers}
                await send(message)

            refusal: Response | None = None
            if (path not in OPEN_PATHS and self.web.login_required
                    and (session is None or not session.logged_in)):
                refusal = (RedirectResponse("/login", status_code=303) if path == "/"
                           else _error(401, "log in first"))
            elif method in WRITE_METHODS and not self._csrf_ok(request, session):
                log.warning("web_forged_request", path=path,
                            client=request.client.host if request.client else None)
                refusal = _error(403, "missing or wrong CSRF token: reload the page")
            # a refusal and a route's answer get the same headers (and the new session's cookie)
            await (inner if refusal is None else refusal)(scope, receive, send_with_headers)
        return app

    @staticmethod
    def _csrf_ok(request: Request, session: Session | None) -> bool:
        token = request.headers.get(CSRF_HEADER, "")
        if session is None or not token:
            return False
        origin = request.headers.get("origin")
        if origin is not None and origin.split("://", 1)[-1] != request.headers.get("host"):
            return False
        return hmac.compare_digest(token.encode(), session.csrf.encode())

    @staticmethod
    def _session(request: Request) -> tuple[str | None, Session | None]:
        return request.scope["state"]["session"]

    # ---------------- pages ----------------
    def _page(self, name: str, request: Request) -> Response:
        _, session = self._session(request)
        assert session is not None
        stop = self.view.cfg.stop
        body = (self.pages[name].replace("{{csrf}}", session.csrf)
                .replace("{{stop}}", _esc(f"{stop.id} {stop.name}".strip())))
        return Response(body, media_type="text/html; charset=utf-8")

    async def index(self, request: Request) -> Response:
        return self._page("index.html", request)

    async def login_page(self, request: Request) -> Response:
        _, session = self._session(request)
        if session is not None and session.logged_in:
            return RedirectResponse("/", status_code=303)
        return self._page("login.html", request)

    async def static(self, request: Request) -> Response:
        text, kind = self.files[request.url.path]
        return Response(text, media_type=kind)

    async def session(self, request: Request) -> Response:
        """The session's CSRF token, for a program that talks to the page (commissioning)."""
        _, session = self._session(request)
        assert session is not None
        return JSONResponse({"csrf": session.csrf, "logged_in": session.logged_in,
                             "login_required": self.web.login_required})

    # ---------------- log in and out ----------------
    async def login(self, request: Request) -> Response:
        client = request.client.host if request.client else "?"
        wait = self.limiter.wait_s(client)
        if wait > 0:
            return _error(429, f"too many failed logins: try again in {wait:.0f} s",
                          retry_after_s=round(wait))
        try:
            body = await request.json()
            password = body["password"] if isinstance(body, dict) else None
        except (ValueError, KeyError):
            password = None
        if not isinstance(password, str):
            return _error(400, "send {\"password\": \"...\"}")
        stored = self.web.password_hash
        ok = True if stored is None else await run_in_threadpool(verify_password, password,
                                                                 stored)
        if not ok:
            self.limiter.failed(client)
            log.warning("web_login_failed", client=client)
            return _error(401, "wrong password")
        self.limiter.succeeded(client)
        old, _ = self._session(request)
        self.sessions.drop(old)  # a fresh id at login: a planted cookie is worth nothing
        sid, session = self.sessions.new(logged_in=True)
        log.info("web_login", client=client)
        response = JSONResponse({"ok": True, "csrf": session.csrf})
        response.headers.append("set-cookie", _cookie(sid, self.web))
        return response

    async def logout(self, request: Request) -> Response:
        sid, _ = self._session(request)
        self.sessions.drop(sid)
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE, path="/")
        return response

    # ---------------- what the page reads ----------------
    async def state(self, request: Request) -> Response:
        return JSONResponse(self.view.state())

    async def frame(self, request: Request) -> Response:
        jpeg = await run_in_threadpool(self.view.jpeg)
        if jpeg is None:
            return _error(503, "no frame yet")
        return Response(jpeg, media_type="image/jpeg")

    async def healthz(self, request: Request) -> Response:
        ok, reasons = self.view.health()
        return JSONResponse({"ok": ok, "reasons": reasons}, status_code=200 if ok else 503)

    async def metrics(self, request: Request) -> Response:
        self.view.drain()
        return Response(self.view.metrics.text(), media_type=CONTENT_TYPE_LATEST)

    # ---------------- writes ----------------
    async def zone(self, request: Request) -> Response:
        """Save the zone (and masks) drawn on the page: the config's own checks, an atomic
        write keeping FILE.bak, then the daemon's reload (as SIGHUP and ``cmd/reload``)."""
        from edge.install.config_edit import write_zone
        from edge.runtime.control import CommandFailed

        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise ValueError("send {\"polygon\": [[x, y], ...], \"masks\": [...]}")
            polygon = _points(body.get("polygon"), "zone.polygon")
            masks = body.get("masks")
            if masks is not None:
                if not isinstance(masks, list):
                    raise ValueError("zone.masks: a list of polygons")
                masks = [_points(m, f"zone.masks[{i}]") for i, m in enumerate(masks)]
        except ValueError as exc:
            return _error(400, str(exc))
        parts = self.view.parts
        if parts is None or parts.config_path is None or parts.control is None:
            return _error(409, "the daemon was started without a config file (-c): "
                          "nothing to save to")
        path = Path(parts.config_path)
        try:
            _, backup = await run_in_threadpool(write_zone, path, polygon, masks)
        except ConfigError as exc:
            return _error(400, str(exc))
        except OSError as exc:
            return _error(500, f"cannot write {path}: {exc.strerror or exc}")
        log.info("web_zone_saved", points=len(polygon), masks=None if masks is None
                 else len(masks), backup=str(backup))
        try:
            future = parts.control.reload()
            result = await asyncio.wait_for(asyncio.wrap_future(future), RELOAD_WAIT_S)
        except CommandFailed as exc:
            return _error(409, f"saved, but the reload was refused: {exc.detail}")
        except asyncio.TimeoutError:
            return _error(504, "saved; the frame loop did not apply the reload in "
                          f"{RELOAD_WAIT_S:g} s")
        return JSONResponse({"ok": True, "backup": backup.name, **result})

    async def walk(self, request: Request) -> Response:
        self.view.drain()  # a walk starts with the cycles after this moment
        if request.method == "POST":
            try:
                body = await request.json()
            except ValueError:
                body = None
            body = body if isinstance(body, dict) else {}
            limit = body.get("limit_s", DEFAULT_WALK_S)
            if not isinstance(limit, (int, float)) or not 5 <= limit <= 3600:
                return _error(400, "limit_s: seconds, 5 to 3600")
            if body.get("action", "start") == "cancel":
                self.view.walk.expire("cancelled")
            else:
                self.view.walk.start(float(limit))
        return JSONResponse(self.view.walk.result().as_json())

    async def selftest(self, request: Request) -> Response:
        """The relay pulse and a model run, in the frame thread (commissioning through a
        running daemon: the relay cannot be opened twice)."""
        from edge.runtime.control import CommandFailed

        parts = self.view.parts
        if parts is None or parts.control is None:
            return _error(409, "not ready")
        mqtt = self.view.mqtt
        try:
            # with MQTT, its self-test: the same, and the broker's acknowledgement of a publish
            future = parts.control.selftest() if mqtt is None else _in_link_thread(mqtt)
            result = await asyncio.wait_for(asyncio.wrap_future(future), RELOAD_WAIT_S)
        except asyncio.TimeoutError:
            return _error(504, "the frame loop did not answer")
        except CommandFailed as exc:  # a check failed: its figures are in the answer
            result = exc.extra.get("checks", {})
        return JSONResponse(result.get("checks", result))


def _in_link_thread(mqtt: Any) -> Future[dict[str, Any]]:
    """The MQTT service's self-test, started in its link's thread (where its jobs live)."""
    outer: Future[dict[str, Any]] = Future()

    def start() -> None:
        try:
            inner = mqtt.responder.selftest()
        except Exception as exc:  # handed to the caller
            outer.set_exception(exc)
            return
        inner.add_done_callback(lambda f: outer.set_exception(f.exception())
                                if f.exception() is not None else outer.set_result(f.result()))

    mqtt.runner.call(start)
    return outer


def _esc(text: str) -> str:
    import html

    return html.escape(text)


def _cookie(sid: str, web: WebConfig) -> str:
    return (f"{COOKIE}={sid}; Max-Age={int(web.session_s)}; Path=/; HttpOnly; "
            "SameSite=Strict")



class WebServer:
    """uvicorn in a daemon thread on a socket bound here (a port in use is said at once, in
    the caller's thread, not later in the server's)."""

    def __init__(self, web: WebConfig, view: LiveView) -> None:
        import uvicorn

        self.web = web
        self.app = WebApp(web, view)
        family = socket.AF_INET6 if ":" in web.host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((web.host.strip("[]"), web.port))
        self.sock.listen(64)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            self.app.asgi, log_config=None, access_log=False, lifespan="off",
            server_header=False, date_header=False, proxy_headers=False,
            limit_concurrency=web.max_connections, timeout_keep_alive=5,
            h11_max_incomplete_event_size=16 * 1024)
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="stopsafe-web", daemon=True)
        self._stopping = threading.Event()
        self._drainer = threading.Thread(target=self._drain, name="stopsafe-web-count",
                                         daemon=True)

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except Exception:  # the page is a convenience: the light goes on without it
            log.exception("web_failed")

    def _drain(self) -> None:
        """Count the frame loop's queued cycles every DRAIN_S, scraped or not."""
        while not self._stopping.wait(DRAIN_S):
            try:
                self.app.view.drain()
            except Exception:  # counting goes on; the failure is logged
                log.exception("web_drain_failed")

    def start(self) -> WebServer:
        self._thread.start()
        self._drainer.start()
        deadline = time.monotonic() + 10
        while not self.server.started and self._thread.is_alive() \
                and time.monotonic() < deadline:
            time.sleep(0.01)
        log.info("web_started", host=self.web.host, port=self.port,
                 login=self.web.login_required)
        return self

    @property
    def url(self) -> str:
        host = self.web.host if ":" not in self.web.host else f"[{self.web.host.strip('[]')}]"
        return f"http://{host}:{self.port}"

    def close(self) -> None:
        self.server.should_exit = True
        self._stopping.set()
        self._thread.join(timeout=5)
        self._drainer.join(timeout=5)
        self.sock.close()


class WebRefused(Exception):
    """The settings do not allow the page (``WebConfig.refusal``)."""


def start_web(web: WebConfig, view: LiveView) -> WebServer:
    """The page's server, started; raises WebRefused (a password is needed beyond loopback)
    or OSError (the address cannot be bound)."""
    if web.refusal is not None:
        raise WebRefused(web.refusal)
    return WebServer(web, view).start()

