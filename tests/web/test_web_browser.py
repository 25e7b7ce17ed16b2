"""The web UI in a real browser (Debian's chromium through Playwright), driving an App
fed by the Metronome fake over loopback HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from tests.fakes.pagerduty import PagerDutyFake
from tests.web.conftest import BASIC, HOSTILE, UI_PASSWORD, UI_USER, Site, make_site

pytestmark = pytest.mark.slow


def incident_id(site: Site, name: str) -> int:
    for inc in site.app.store.incidents("open"):
        if dict(inc.group).get("customer_name") == name:
            return inc.id
    raise AssertionError(f"no open incident for {name!r}")


def test_incident_appears_with_its_chart_contributors_and_deliveries(site, chromium):
    page = chromium().new_page()
    page.goto(site.url + "/")
    rows = page.locator("#incidents tbody tr")
    assert rows.count() == 2  # Acme and the hostile customer; Quiet Co never crossed $200
    acme = rows.filter(has_text="Acme Corp")
    assert "critical" in acme.inner_text().lower()
    assert "open" in acme.locator("td").last.inner_text()
    acme.get_by_role("link", name="customer_id=").click()

    assert page.locator("h1").inner_text().endswith("customer-hourly-over-200")
    chart = page.locator("svg.chart")
    assert chart.is_visible()
    assert chart.locator("path.observed").get_attribute("d").count("L") >= 5
    assert chart.locator("circle.point").count() == 1
    assert "GPU compute" in page.locator("#contributors").inner_text()
    timeline = page.locator("#timeline").inner_text()
    assert "first" in timeline
    deliveries = page.locator("#deliveries tbody tr")
    assert deliveries.count() == 1
    assert "jsonl" in deliveries.inner_text()
    assert "sent" in deliveries.inner_text()


def test_a_silence_started_from_the_incident_stops_its_next_repeat(site, chromium):
    context = chromium(http_credentials={"username": UI_USER, "password": UI_PASSWORD})
    page = context.new_page()
    acme = incident_id(site, "Acme Corp")
    page.goto(f"{site.url}/ui/incidents/{acme}")
    page.locator("#sign-in").click()  # basic auth: the browser answers the challenge
    assert "signed in (basic)" in page.locator("header").inner_text()
    page.locator("#silence-this").click()

    form = page.locator("#new-silence")
    assert form.locator("input[name=rule]").input_value() == "customer-hourly-over-200"
    matchers = form.locator("textarea[name=matchers]").input_value().splitlines()
    assert "customer_name=Acme Corp" in matchers
    form.locator("input[name=comment]").fill("known migration, back by 18:00")
    form.locator("input[name=duration]").fill("6h")
    form.locator("#create-silence").click()

    table = page.locator("#silences")
    assert "known migration" in table.inner_text()
    assert UI_USER in table.inner_text()
    [silence] = site.app.store.silences(site.clock.now())
    assert silence.matchers["customer_name"] == "Acme Corp"

    # three hours on, both incidents are still over $200 and past their 2h repeat
    site.clock.advance(timedelta(hours=3))
    site.cycle()
    repeats = [a for a in site.alerts() if a["event"] == "repeat_due"]
    assert [a["group"]["customer_name"] for a in repeats] == [HOSTILE]

    page.goto(f"{site.url}/ui/incidents/{acme}")
    assert "silenced" in page.locator("dl.facts").inner_text()
    assert "repeat_due" not in page.locator("#deliveries").inner_text()


def test_a_hostile_customer_name_renders_as_inert_text(site, chromium):
    page = chromium().new_page()
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.goto(site.url + "/ui/")
    hostile = incident_id(site, HOSTILE)
    assert HOSTILE in page.locator("#incidents").inner_text()
    page.goto(f"{site.url}/ui/incidents/{hostile}")
    assert HOSTILE in page.locator("#group").inner_text()
    assert page.title() != "pwned"
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 1  # only /ui/static/ui.js
    page.locator("#silence-this").click()
    assert f"customer_name={HOSTILE}" in page.locator("textarea[name=matchers]").input_value()
    assert page.title() != "pwned"
    assert dialogs == []


def test_an_unauthenticated_change_is_refused(site, chromium):
    page = chromium().new_page()  # no credentials
    page.goto(f"{site.url}/ui/incidents/{incident_id(site, 'Acme Corp')}")
    page.locator("#silence-this").click()
    assert "needs credentials" in page.locator("main").inner_text()
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.locator("#create-silence").click()
    assert answer.value.status == 401
    assert "Sign in to make changes" in page.locator("#message").inner_text()
    assert site.app.store.silences() == []


@pytest.fixture
def pd_site(tmp_path) -> Iterator[tuple[Site, PagerDutyFake]]:
    """The site with a PagerDuty notifier (the loopback Events API v2) beside the file."""
    with PagerDutyFake() as pagerduty:
        extra = (
            '\n[notifiers.oncall]\ntype = "pagerduty"\nrouting_key_env = "PD_KEY"\n'
            f'base_url = "{pagerduty.url}"\n'
        )
        gen = make_site(tmp_path, BASIC, notifiers=extra)
        try:
            yield next(gen), pagerduty
        finally:
            gen.close()


def test_acknowledge_from_the_incident_page_stops_repeats_and_tells_pagerduty(pd_site, chromium):
    site, pagerduty = pd_site
    acme = incident_id(site, "Acme Corp")
    hostile = incident_id(site, HOSTILE)
    assert pagerduty.alerts == {
        f"alerter-incident-{acme}": "triggered",
        f"alerter-incident-{hostile}": "triggered",
    }
    context = chromium(http_credentials={"username": UI_USER, "password": UI_PASSWORD})
    page = context.new_page()
    page.goto(f"{site.url}/ui/incidents/{acme}")
    assert "Nobody acknowledged" in page.locator("#no-actions").inner_text()
    page.locator("#sign-in").click()
    page.locator("#acknowledge").click()

    assert "acknowledged" in page.locator("dl.facts").inner_text()
    assert page.locator("#acknowledge").count() == 0  # acknowledged once, no second button
    [row] = page.locator("#actions tbody tr").all_inner_texts()
    assert "acknowledge" in row
    assert UI_USER in row
    assert "2026-09-07 12:00" in row  # the App's clock, not the wall clock
    assert site.app.store.actions.acknowledged() == {acme}

    # three hours on both are still over $200 and past their 2h repeat: only the
    # unacknowledged one repeats, and PagerDuty heard the acknowledgement of Acme's alert
    site.clock.advance(timedelta(hours=3))
    site.cycle()
    repeats = [a for a in site.alerts() if a["event"] == "repeat_due"]
    assert [a["group"]["customer_name"] for a in repeats] == [HOSTILE]
    assert pagerduty.alerts[f"alerter-incident-{acme}"] == "acknowledged"
    assert pagerduty.alerts[f"alerter-incident-{hostile}"] == "triggered"
    assert pagerduty.rejected == []

    page.goto(f"{site.url}/ui/")
    acme_row = page.locator("#incidents tbody tr").filter(has_text="Acme Corp")
    assert "acknowledged" in acme_row.inner_text()
