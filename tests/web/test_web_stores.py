"""The UI reads and writes through the store's role protocols: the same pages and the
same changes on SQLite state and on PostgreSQL state (a scratch database of the
machine's server, see ``tests/postgres.py``)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from alerter.store.actions import Action, actions_of
from alerter.store.postgres import PostgresStore
from tests.postgres import scratch_database
from tests.web.conftest import BASIC, UI_USER, Site, make_site
from tests.web.test_web_security import BASIC_AUTH, SILENCE, call, csrf_for


@pytest.fixture(params=["sqlite", "postgres"])
def any_state_site(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Site]:
    if request.param == "sqlite":
        yield from make_site(tmp_path, BASIC)
        return
    with scratch_database("alerter_web") as url:
        sites = make_site(tmp_path, BASIC, state=url)
        site = next(sites)
        assert isinstance(site.app.store, PostgresStore)
        yield site
        sites.close()


def test_pages_and_silences_work_on_either_state_store(any_state_site: Site):
    site = any_state_site
    status, _, page = call(site, "/ui/")
    assert status == 200
    assert len(set(re.findall(r"/ui/incidents/(\d+)", page))) == 2  # Acme, the hostile one

    acme = next(
        i for i in site.app.store.incidents("open") if dict(i.group)["customer_name"] == "Acme Corp"
    )
    status, _, page = call(site, f"/ui/incidents/{acme.id}")
    assert status == 200
    assert 'class="chart' in page
    assert "GPU compute" in html.unescape(page)
    assert 'id="deliveries"' in page

    status, _, page = call(site, "/ui/sources")
    assert status == 200
    assert "1/month per group" in html.unescape(page)

    token = csrf_for(site, BASIC_AUTH)
    headers = {"Authorization": BASIC_AUTH, "Origin": site.url, "Sec-Fetch-Site": "same-origin"}
    status, _, page = call(site, "/ui/silences", form={**SILENCE, "csrf": token}, headers=headers)
    assert status == 200  # followed the redirect to the list
    [silence] = site.app.store.silences(site.clock.now())
    assert silence.matchers == {"customer_name": "Acme*"}
    assert f'action="/ui/silences/{silence.id}/expire"' in page
    status, _, _ = call(
        site, f"/ui/silences/{silence.id}/expire", form={"csrf": token}, headers=headers
    )
    assert status == 200
    assert site.app.store.silences(site.clock.now()) == []

    # Acknowledge: the Slack buttons' path (``apply_action``) on either store, once
    status, _, page = call(site, f"/ui/incidents/{acme.id}", headers=headers)
    assert 'id="acknowledge"' in page
    assert "keeps no incident actions" not in page
    site.clock.advance(timedelta(minutes=7))
    acked_at = site.clock.now()
    for _ in range(2):  # a double click acts once
        status, _, page = call(
            site, f"/ui/incidents/{acme.id}/acknowledge", form={"csrf": token}, headers=headers
        )
        assert status == 200  # followed the redirect to the incident
    assert 'id="acknowledge"' not in page
    actions = actions_of(site.app.store)
    assert actions is not None
    [record] = actions.history(acme.id)
    assert (record.action, record.actor, record.at) == (Action.ACKNOWLEDGE, UI_USER, acked_at)
    assert actions.acknowledged() == {acme.id}
    shown = f'<td>{UI_USER}</td><td><span class="badge">acknowledge</span>'
    assert 'id="actions"' in page and shown in page
