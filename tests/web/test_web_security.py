"""The UI's guards over plain HTTP: who may change what, from where, and what a page
never contains. No browser needed: these are the requests an attacker would craft."""

from __future__ import annotations

import base64
import re
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from alerter.config import HttpConfig
from alerter.errors import ConfigError
from alerter.web.auth import Credentials
from tests.web.conftest import BASIC, HOSTILE, TOKEN, UI_PASSWORD, UI_USER, Site

BASIC_AUTH = "Basic " + base64.b64encode(f"{UI_USER}:{UI_PASSWORD}".encode()).decode()


def call(
    site: Site,
    path: str,
    *,
    form: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], str]:
    data = urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(site.url + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, dict(resp.headers.items()), resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers.items()), exc.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def csrf_for(site: Site, auth: str) -> str:
    _, _, page = call(site, "/ui/silences", headers={"Authorization": auth})
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert match, "no CSRF token in the silences page"
    return match.group(1)


SILENCE = {"rule": "customer-hourly-over-200", "matchers": "customer_name=Acme*", "duration": "1h"}


def test_every_page_renders_with_a_strict_policy_and_no_secret(site):
    acme = site.app.store.incidents("open")[0].id
    for path in (
        "/ui/",
        f"/ui/incidents/{acme}",
        "/ui/silences",
        "/ui/sources",
        "/ui/explain",
        "/ui/explain?rule=customer-hourly-over-200&group=customer_name%3DAcme+Corp",
        "/ui/rules/customer-hourly-over-200/backtest",
    ):
        status, headers, body = call(site, path, headers={"Authorization": BASIC_AUTH})
        assert status == 200, (path, body)
        csp = headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'self'" in csp
        assert "unsafe-inline" not in csp
        assert headers["X-Frame-Options"] == "DENY"
        for secret in (TOKEN, UI_PASSWORD):
            assert secret not in body, path
        assert "<script>document" not in body, path


def test_a_hostile_name_is_escaped_in_the_html(site):
    _, _, body = call(site, "/ui/")
    assert "&lt;script&gt;document.title=" in body
    assert "<img src=x" not in body
    hostile = next(
        i.id for i in site.app.store.incidents() if dict(i.group).get("customer_name") == HOSTILE
    )
    _, _, page = call(site, f"/ui/incidents/{hostile}")
    assert "<script>document" not in page
    assert page.count("<script") == 1


def test_changes_need_credentials_a_same_site_origin_and_the_form_token(site):
    # no credentials at all
    status, _, body = call(site, "/ui/silences", form=SILENCE)
    assert status == 401
    assert "Sign in to make changes" in body
    # wrong password
    wrong = "Basic " + base64.b64encode(f"{UI_USER}:nope".encode()).decode()
    status, _, _ = call(site, "/ui/silences", form=SILENCE, headers={"Authorization": wrong})
    assert status == 401
    # right credentials, but no form token (a cross-site form riding on cached basic auth)
    status, _, body = call(
        site, "/ui/silences", form=SILENCE, headers={"Authorization": BASIC_AUTH}
    )
    assert status == 403
    assert "form token" in body
    token = csrf_for(site, BASIC_AUTH)
    # right credentials and token, but from another site
    for hostile_headers in (
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"},
    ):
        status, _, body = call(
            site,
            "/ui/silences",
            form={**SILENCE, "csrf": token},
            headers={"Authorization": BASIC_AUTH, **hostile_headers},
        )
        assert status == 403, hostile_headers
        assert "Cross-site" in body
    assert site.app.store.silences() == []
    # all of it right
    status, _, body = call(
        site,
        "/ui/silences",
        form={**SILENCE, "csrf": token},
        headers={
            "Authorization": BASIC_AUTH,
            "Origin": site.url,
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert status == 200  # followed the redirect to the list
    [silence] = site.app.store.silences()
    assert silence.matchers == {"customer_name": "Acme*"}
    assert silence.created_by == UI_USER
    # expire it: the same checks
    status, _, _ = call(site, f"/ui/silences/{silence.id}/expire", form={})
    assert status == 401
    status, _, _ = call(
        site,
        f"/ui/silences/{silence.id}/expire",
        form={"csrf": token},
        headers={"Authorization": BASIC_AUTH},
    )
    assert status == 200
    assert site.app.store.silences() == []


def test_bad_silence_input_is_named_and_nothing_is_stored(site):
    token = csrf_for(site, BASIC_AUTH)
    auth = {"Authorization": BASIC_AUTH}
    for form, message in (
        ({"rule": "", "matchers": "", "duration": "1h"}, "give a rule"),
        ({"rule": "r", "matchers": "no-equals-sign", "duration": "1h"}, "expected DIM=GLOB"),
        ({"rule": "r", "matchers": "", "duration": "soon"}, "soon"),
        ({"rule": "r", "matchers": "", "duration": "400d"}, "between 1s and 90d"),
    ):
        status, _, body = call(site, "/ui/silences", form={**form, "csrf": token}, headers=auth)
        assert status == 400, form
        assert message in body.replace("&#39;", "'")
    assert site.app.store.silences() == []


def test_bearer_token_needs_no_form_token_and_the_login_sets_a_strict_cookie(make_ui_site):
    site = make_ui_site('ui = true\nui_token_env = "UI_PASS"')
    bearer = {"Authorization": f"Bearer {UI_PASSWORD}"}
    status, _, _ = call(site, "/ui/silences", form=SILENCE, headers=bearer)
    assert status == 200
    assert len(site.app.store.silences()) == 1
    status, _, _ = call(site, "/ui/silences", form=SILENCE, headers={"Authorization": "Bearer x"})
    assert status == 401

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(
        site.url + "/ui/login", data=urlencode({"token": UI_PASSWORD}).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as answer:
        opener.open(request, timeout=10)
    with answer.value as refused:
        assert refused.code == 303
        cookie = refused.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Strict" in cookie
    assert UI_PASSWORD not in cookie
    session = {"Cookie": cookie.split(";", 1)[0]}
    # the cookie alone is not enough: a form token bound to the session is needed too
    status, _, _ = call(site, "/ui/silences", form=SILENCE, headers=session)
    assert status == 403
    _, _, anonymous = call(site, "/ui/silences")
    assert 'name="csrf" value=""' in anonymous  # no identity, no token
    _, _, page = call(site, "/ui/silences", headers=session)
    session_token = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert session_token
    status, _, _ = call(
        site, "/ui/silences", form={**SILENCE, "csrf": session_token.group(1)}, headers=session
    )
    assert status == 200
    assert len(site.app.store.silences()) == 2


def test_read_only_mode_refuses_every_change_even_with_credentials(make_ui_site):
    site = make_ui_site(BASIC + "\nui_read_only = true")
    status, _, body = call(
        site, "/ui/silences", form=SILENCE, headers={"Authorization": BASIC_AUTH}
    )
    assert status == 403
    assert "read-only" in body
    _, _, page = call(site, "/ui/silences", headers={"Authorization": BASIC_AUTH})
    assert 'id="new-silence"' not in page
    assert site.app.store.silences() == []


def test_without_credentials_configured_changes_are_off(make_ui_site):
    site = make_ui_site("ui = true")
    status, _, body = call(site, "/ui/silences", form=SILENCE)
    assert status == 403
    assert "Changes are off" in body


def test_a_foreign_host_name_is_refused_on_loopback(site):
    status, _, _ = call(site, "/ui/", headers={"Host": "rebound.example:80"})
    assert status == 421
    status, _, _ = call(site, "/ui/", headers={"Host": "localhost"})
    assert status == 200


def test_credentials_env_keys_must_name_set_variables():
    cfg = HttpConfig(ui=True, ui_token_env="NOT_SET_ANYWHERE")
    with pytest.raises(ConfigError, match="ui_token_env = 'NOT_SET_ANYWHERE'"):
        Credentials.from_config(cfg, {})
    half = HttpConfig(ui=True, ui_user_env="U")
    with pytest.raises(ConfigError, match="set both or neither"):
        Credentials.from_config(half, {"U": "someone"})
    creds = Credentials.from_config(HttpConfig(ui=True, ui_token_env="T"), {"T": "s3cr3t-value"})
    assert "s3cr3t-value" not in repr(creds)


def test_acknowledge_needs_credentials_and_the_form_token_and_acts_once(site):
    acme = next(
        i.id
        for i in site.app.store.incidents("open")
        if dict(i.group)["customer_name"] == "Acme Corp"
    )
    path = f"/ui/incidents/{acme}/acknowledge"
    same_site = {"Origin": site.url, "Sec-Fetch-Site": "same-origin"}
    status, _, _ = call(site, path, form={}, headers=same_site)
    assert status == 401
    status, _, _ = call(
        site, path, form={"csrf": "0" * 64}, headers={**same_site, "Authorization": BASIC_AUTH}
    )
    assert status == 403
    token = csrf_for(site, BASIC_AUTH)
    cross = {"Origin": "http://evil.example", "Authorization": BASIC_AUTH}
    status, _, _ = call(site, path, form={"csrf": token}, headers=cross)
    assert status == 403
    assert site.app.store.actions.history(acme) == []

    opener = urllib.request.build_opener(NoRedirect)
    for _ in range(2):  # a double click records one action
        request = urllib.request.Request(
            site.url + path,
            data=urlencode({"csrf": token}).encode(),
            headers={**same_site, "Authorization": BASIC_AUTH},
        )
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(request, timeout=10)
        assert redirect.value.code == 303
        assert redirect.value.headers["Location"] == f"/ui/incidents/{acme}"
        redirect.value.close()
    [record] = site.app.store.actions.history(acme)
    assert (record.action.value, record.actor, record.at) == (
        "acknowledge",
        UI_USER,
        site.clock.now(),
    )

    status, _, _ = call(
        site,
        "/ui/incidents/999/acknowledge",
        form={"csrf": token},
        headers={**same_site, "Authorization": BASIC_AUTH},
    )
    assert status == 404
