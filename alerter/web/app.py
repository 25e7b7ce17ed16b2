"""The web UI: routes of ``/ui``, served by the daemon's HTTP server (``server.py``).

``WebUI.handle(method, target, headers, body)`` is the whole interface: the server
passes every ``/`` and ``/ui/...`` request to it and writes back the answer. Pages are
rendered on the server from Jinja2 templates with autoescaping on, so billing text is
always text; the one small script only enhances (a filter box, confirm on expire).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from alerter.app import App
from alerter.backtest import BacktestResult
from alerter.errors import AlerterError
from alerter.notify.actions import ActionError
from alerter.report import render_html, report_style_hash
from alerter.timeparse import format_time, parse_duration, parse_time
from alerter.web import views
from alerter.web.auth import COOKIE, SESSION_TTL, Credentials, Guard, Identity, Refused
from alerter.web.data import UiData

log = logging.getLogger(__name__)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "frame-src 'self'"
)
SECURITY_HEADERS = [
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Cache-Control", "no-store"),
]
REPORT_CSP = (
    "default-src 'none'; script-src 'none'; img-src data:; "
    f"style-src '{report_style_hash()}'; form-action 'none'; frame-ancestors 'self'; "
    "base-uri 'none'; sandbox"
)
"""The backtest report's policy: its one ``<style>`` by hash, its charts as data: URLs."""
STATIC = {"ui.css": "text/css; charset=utf-8", "ui.js": "text/javascript; charset=utf-8"}
MAX_BODY = 64 * 1024
MAX_SILENCE = timedelta(days=90)

Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Mapping[str, str]
    form: dict[str, str] = field(default_factory=dict)
    form_lists: dict[str, list[str]] = field(default_factory=dict)

    def arg(self, name: str) -> str:
        return self.query.get(name, [""])[0]


class WebUI:
    """Renders the UI pages of one App; thread-safe (the store serialises its access)."""

    def __init__(
        self,
        app: App,
        *,
        credentials: Credentials | None = None,
        guard: Guard | None = None,
    ) -> None:
        cfg = app.config.alerter.http
        self.app = app
        self.data = UiData.of(app.store)
        creds = credentials or Credentials.from_config(cfg, app.env)
        self.guard = guard or Guard(creds, read_only=cfg.ui_read_only, bound_host=cfg.host)
        self._secrets = [s for s in (*creds.secrets(), *_config_secrets(app)) if len(s) >= 4]
        self.env = Environment(
            loader=PackageLoader("alerter.web", "templates"),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._static = {
            name: (resources.files("alerter.web") / "static" / name).read_bytes() for name in STATIC
        }
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Answer]]] = [
            ("GET", re.compile(r"/ui/?"), self.incidents),
            ("GET", re.compile(r"/ui/incidents/(\d+)"), self.incident),
            ("POST", re.compile(r"/ui/incidents/(\d+)/acknowledge"), self.acknowledge),
            ("GET", re.compile(r"/ui/silences"), self.silences),
            ("POST", re.compile(r"/ui/silences"), self.create_silence),
            ("POST", re.compile(r"/ui/silences/(\d+)/expire"), self.expire_silence),
            ("GET", re.compile(r"/ui/sources"), self.sources),
            ("GET", re.compile(r"/ui/rules/([^/]+)/backtest"), self.backtest),
            ("GET", re.compile(r"/ui/rules/([^/]+)/backtest/report"), self.backtest_report),
            ("GET", re.compile(r"/ui/explain"), self.explain),
            ("GET", re.compile(r"/ui/login"), self.login_form),
            ("POST", re.compile(r"/ui/login"), self.login),
            ("POST", re.compile(r"/ui/logout"), self.logout),
            ("GET", re.compile(r"/ui/static/([a-z.]+)"), self.static),
        ]

    # -- entry point -------------------------------------------------------------------
    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Answer:
        """Answer one request; never raises (a bug shows as a 500 page, logged)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        parts = urlsplit(target)
        req = Request(method, parts.path, parse_qs(parts.query), lowered)
        try:
            if not self.guard.host_ok(lowered):
                return self._text(421, "Unknown host name for this UI (bound to loopback).")
            if parts.path == "/":
                return 302, [("Location", "/ui/"), *SECURITY_HEADERS], b""
            if method == "POST":
                if len(body) > MAX_BODY:
                    return self._text(413, "Request too large.")
                lists = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
                req.form_lists = lists
                req.form = {k: v[0] for k, v in lists.items()}
            allowed = False
            for verb, pattern, handler in self._routes:
                match = pattern.fullmatch(parts.path)
                if match is None:
                    continue
                allowed = True
                if verb == method or (verb == "GET" and method == "HEAD"):
                    return handler(req, *match.groups())
            if allowed:
                return self._text(405, "Method not allowed.")
            return self._page(404, "error.html", req, title="Not found", message="No such page.")
        except Refused as exc:
            headers_out = []
            if exc.challenge and self.guard.credentials.token:
                # not Basic: a refused form post must not pop up a password dialog
                # (``/ui/login`` is where the browser is asked for basic credentials)
                headers_out.append(("WWW-Authenticate", 'Bearer realm="alerter"'))
            return self._page(
                exc.status,
                "error.html",
                req,
                title="Refused",
                message=exc.message,
                extra_headers=headers_out,
            )
        except Exception:  # a broken page must not take the server thread down
            log.exception("ui_error path=%s", parts.path)
            return self._text(500, "Internal error (logged).")

    # -- rendering ---------------------------------------------------------------------
    def _identity(self, req: Request) -> Identity | None:
        return self.guard.identify(req.headers, self.app.clock.now())

    def _page(
        self,
        status: int,
        template: str,
        req: Request,
        *,
        extra_headers: list[tuple[str, str]] | None = None,
        **context: Any,
    ) -> Answer:
        identity = self._identity(req)
        html = self.env.get_template(template).render(
            now=views.fmt_time(self.app.clock.now()),
            path=req.path,
            identity=identity,
            csrf=self.guard.csrf_token(identity) if identity else "",
            changes_allowed=self.guard.changes_allowed,
            read_only=self.guard.read_only,
            has_token=bool(self.guard.credentials.token),
            **context,
        )
        for secret in self._secrets:  # belt and braces: a secret never leaves in a page
            html = html.replace(secret, "[redacted]")
        headers = [("Content-Type", "text/html; charset=utf-8"), *SECURITY_HEADERS]
        return status, headers + (extra_headers or []), html.encode("utf-8")

    def _text(self, status: int, text: str) -> Answer:
        return (
            status,
            [("Content-Type", "text/plain; charset=utf-8"), *SECURITY_HEADERS],
            (text.encode()),
        )

    @staticmethod
    def _redirect(location: str, extra: list[tuple[str, str]] | None = None) -> Answer:
        return 303, [("Location", location), *SECURITY_HEADERS, *(extra or [])], b""

    # -- pages -------------------------------------------------------------------------
    def incidents(self, req: Request) -> Answer:
        now = self.app.clock.now()
        ctx = views.incidents_page(self.data, now, rule=req.arg("rule"), state=req.arg("state"))
        return self._page(200, "incidents.html", req, title="Incidents", **ctx)

    def incident(
        self, req: Request, raw_id: str, *, ack_error: str = "", status: int = 200
    ) -> Answer:
        detail = views.incident_page(self.app, self.data, int(raw_id), self.app.clock.now())
        if detail is None:
            return self._page(
                404, "error.html", req, title="Not found", message="No such incident."
            )
        return self._page(
            status,
            "incident.html",
            req,
            title=f"Incident {detail.incident.id}",
            d=detail,
            ack_error=ack_error,
            silence_link="/ui/silences?" + urlencode(detail.silence_query),
            explain_link="/ui/explain?"
            + urlencode(
                {
                    "rule": detail.incident.rule,
                    "group": "\n".join(f"{k}={v}" for k, v in detail.incident.group),
                    "at": format_time(detail.incident.last_anomalous_window),
                }
            ),
        )

    def acknowledge(self, req: Request, raw_id: str) -> Answer:
        """The Acknowledge button: the same ``apply_action`` the Slack button runs, so the
        press is recorded once in the incident's history, its repeats stop and the
        notifiers that acknowledge (PagerDuty) and carry the incident are told."""
        now = self.app.clock.now()
        identity = self.guard.check_change(req.headers, req.form, now)
        incident_id = int(raw_id)
        targets = [
            n for n, obj in self.app.notifiers.items() if getattr(obj, "acknowledges", False)
        ]
        try:
            outcome = self.data.acknowledge(incident_id, identity.name, now, targets)
        except ActionError as exc:
            return self.incident(req, raw_id, ack_error=str(exc), status=409)
        log.info(
            "ui_incident_acknowledged incident=%d rule=%s by=%s applied=%s",
            incident_id,
            outcome.incident.rule,
            identity.kind,
            outcome.applied,
        )
        return self._redirect(f"/ui/incidents/{incident_id}")

    def silences(self, req: Request, *, error: str = "", status: int = 200) -> Answer:
        now = self.app.clock.now()
        recent = [s for s in self.data.silences() if s.ends_at > now - views.RECENT]
        shown = sorted(recent, key=lambda s: (not s.starts_at <= now < s.ends_at, -s.id))
        rows = [
            {
                "s": s,
                "starts": views.fmt_time(s.starts_at),
                "ends": views.fmt_time(s.ends_at),
                "active": s.starts_at <= now < s.ends_at,
                "matchers": ", ".join(f"{k}={v}" for k, v in sorted(s.matchers.items())),
            }
            for s in shown
        ]
        source = req.form_lists if req.method == "POST" else req.query
        prefill = {
            "rule": (source.get("rule") or [""])[0],
            "matchers": "\n".join(source.get("m") or source.get("matchers") or []),
            "duration": (source.get("duration") or ["2h"])[0],
            "comment": (source.get("comment") or [""])[0],
        }
        return self._page(
            status, "silences.html", req, title="Silences", rows=rows, prefill=prefill, error=error
        )

    def create_silence(self, req: Request) -> Answer:
        now = self.app.clock.now()
        identity = self.guard.check_change(req.headers, req.form, now)
        rule = req.form.get("rule", "").strip() or None
        matchers: dict[str, str] = {}
        try:
            for line in req.form.get("matchers", "").replace("\r", "").split("\n"):
                if not line.strip():
                    continue
                name, sep, pattern = line.strip().partition("=")
                if not sep or not name.strip():
                    raise ValueError(f"matcher {line.strip()!r}: expected DIM=GLOB")
                matchers[name.strip()] = pattern
            if rule is None and not matchers:
                raise ValueError("give a rule and/or at least one DIM=GLOB matcher")
            duration = parse_duration(req.form.get("duration", "").strip())
            if not timedelta(0) < duration <= MAX_SILENCE:
                raise ValueError("duration: between 1s and 90d")
        except ValueError as exc:
            return self.silences(req, error=str(exc), status=400)
        comment = req.form.get("comment", "").strip()[:500]
        sid = self.data.add_silence(rule, matchers, now, now + duration, comment, identity.name)
        log.info(
            "ui_silence_added silence=%d rule=%s by=%s until=%s",
            sid,
            rule,
            identity.kind,
            format_time(now + duration),
        )
        return self._redirect("/ui/silences")

    def expire_silence(self, req: Request, raw_id: str) -> Answer:
        identity = self.guard.check_change(req.headers, req.form, self.app.clock.now())
        if not self.data.expire_silence(int(raw_id)):
            return self.silences(req, error=f"No silence {int(raw_id)}.", status=404)
        log.info("ui_silence_expired silence=%s by=%s", raw_id, identity.kind)
        return self._redirect("/ui/silences")

    def sources(self, req: Request) -> Answer:
        ctx = views.sources_page(self.app, self.data, self.app.clock.now())
        return self._page(200, "sources.html", req, title="Sources and rules", **ctx)

    def _backtest(self, name: str) -> tuple[datetime, datetime, BacktestResult | None, str]:
        """The rule replayed over the last 4 weeks of the state's points, as
        ``alerter backtest --since 4w --rule NAME`` does."""
        from alerter.backtest import run_backtest

        now = self.app.clock.now()
        since = now - timedelta(weeks=views.RATE_WEEKS)
        try:
            result = run_backtest(
                self.app.config,
                since=since,
                until=now,
                rule=name,
                state=self.app.store,
                clock_now=now,
            )
        except AlerterError as exc:
            return since, now, None, str(exc)
        return since, now, result, ""

    def backtest(self, req: Request, name: str) -> Answer:
        since, until, result, error = self._backtest(name)
        rule = next((r for r in self.app.config.rules if r.name == name), None)
        summary: dict[str, Any] = {}
        if result is not None and rule is not None:
            per_group, _, kept = result.budget_report(rule)
            summary = {
                "per_week": result.per_rule_weekly().get(name, 0.0),
                "per_group": per_group,
                "budget": rule.max_alerts,
                "kept": kept,
                "groups": result.groups.get(name, 0),
                "firsts": sum(1 for e in result.events if e.event.value == "first"),
            }
        return self._page(
            200,
            "backtest.html",
            req,
            title=f"Backtest {name}",
            rule=name,
            error=error,
            summary=summary,
            report_link=f"/ui/rules/{quote(name, safe='')}/backtest/report",
            since=views.fmt_time(since),
            until=views.fmt_time(until),
        )

    def backtest_report(self, req: Request, name: str) -> Answer:
        """The detection issue's report (``alerter backtest --html``), as its own document
        under its own policy: no script at all, its one style block allowed by hash,
        charts as ``data:`` PNGs, sandboxed, framed only by the UI's own pages."""
        _, _, result, error = self._backtest(name)
        if result is None:
            return self._page(
                404, "error.html", req, title="No backtest", message=error or "No such rule."
            )
        html = render_html(result)
        for secret in self._secrets:
            html = html.replace(secret, "[redacted]")
        headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Security-Policy", REPORT_CSP),
            ("X-Content-Type-Options", "nosniff"),
            ("X-Frame-Options", "SAMEORIGIN"),
            ("Referrer-Policy", "same-origin"),
            ("Cache-Control", "no-store"),
        ]
        return 200, headers, html.encode("utf-8")

    def explain(self, req: Request) -> Answer:
        from alerter.explain import explain

        now = self.app.clock.now()
        rule, group_text, at_text = req.arg("rule"), req.arg("group"), req.arg("at")
        ctx: dict[str, Any] = {
            "rules": [r.name for r in self.app.config.rules],
            "rule": rule,
            "group_text": group_text,
            "at_text": at_text,
            "result": None,
            "chart": None,
            "error": "",
        }
        if rule:
            try:
                group = {}
                for item in group_text.replace("\r", "").split("\n"):
                    if item.strip():
                        name, sep, value = item.strip().partition("=")
                        if not sep:
                            raise ValueError(f"group {item.strip()!r}: expected K=V")
                        group[name] = value
                at = parse_time(at_text) if at_text.strip() else now - self.app.config.settle
                result = explain(
                    self.app.config,
                    rule=rule,
                    group=group,
                    at=at,
                    state=self.app.store,
                    clock_now=now,
                )
                step = _rule_step(self.app, rule)
                ctx["result"] = result.render()
                ctx["chart"] = views.explain_chart(
                    result.baseline,
                    result.window_start,
                    step,
                    result.observed,
                    result.expected,
                    result.lower,
                    result.upper,
                )
            except (AlerterError, ValueError) as exc:
                ctx["error"] = str(exc)
        return self._page(200, "explain.html", req, title="Explain", **ctx)

    # -- sign-in for token holders -----------------------------------------------------
    def login_form(self, req: Request, *, error: str = "", status: int = 200) -> Answer:
        """Signed in: back to ``next``. With basic auth configured, a 401 challenge makes
        the browser ask for the user and password (and send them from then on)."""
        target = req.arg("next")
        if not target.startswith("/ui/") or target.startswith("//"):
            target = "/ui/"
        if self._identity(req) is not None and not error:
            return self._redirect(target)
        extra = []
        if self.guard.credentials.user and not error:
            status = 401
            extra.append(("WWW-Authenticate", 'Basic realm="alerter", charset="UTF-8"'))
        return self._page(
            status, "login.html", req, title="Sign in", error=error, extra_headers=extra
        )

    def login(self, req: Request) -> Answer:
        if not self.guard.same_origin(req.headers):
            raise Refused(403, "Cross-site request refused.")
        sid = self.guard.login(req.form.get("token", ""), self.app.clock.now())
        if sid is None:
            return self.login_form(req, error="That token is not the configured one.", status=401)
        cookie = (
            f"{COOKIE}={sid}; Path=/ui; HttpOnly; SameSite=Strict; "
            f"Max-Age={int(SESSION_TTL.total_seconds())}"
        )
        return self._redirect("/ui/", [("Set-Cookie", cookie)])

    def logout(self, req: Request) -> Answer:
        if not self.guard.same_origin(req.headers):
            raise Refused(403, "Cross-site request refused.")
        self.guard.logout(req.headers)
        return self._redirect("/ui/", [("Set-Cookie", f"{COOKIE}=; Path=/ui; Max-Age=0")])

    def static(self, req: Request, name: str) -> Answer:
        if name not in STATIC:
            return self._text(404, "Not found.")
        headers = [("Content-Type", STATIC[name]), *SECURITY_HEADERS]
        return 200, headers, self._static[name]


def _rule_step(app: App, rule: str) -> int:
    from alerter.backtest import config_step

    r = next(r for r in app.config.rules if r.name == rule)
    return int(config_step(app.config.sources[r.source]).total_seconds())


def _config_secrets(app: App) -> list[str]:
    """Values of every environment variable a ``*_env`` key of the config names."""
    found = []
    sections = [*app.config.sources.values(), *app.config.notifiers.values()]
    for section in sections:
        for name, value in section:
            if name.endswith("_env") and isinstance(value, str) and app.env.get(value):
                found.append(app.env[value])
    return found
