from __future__ import annotations

import pytest

from alerter.notify.render.escape import (
    ZWSP,
    header_safe,
    html_text,
    plain_text,
    slack_mrkdwn,
    slack_text,
)

HOSTILE = "<!channel> *x* <https://evil|click>"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme Corp", "Acme Corp"),
        ("A & B", "A &amp; B"),
        ("<!channel>", "&lt;!channel&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil|click>", "&lt;https://evil|click&gt;"),
        ("*bold*", f"{ZWSP}*{ZWSP}bold{ZWSP}*{ZWSP}"),
        (
            "_it_ ~s~ `c`",
            f"{ZWSP}_{ZWSP}it{ZWSP}_{ZWSP} {ZWSP}~{ZWSP}s{ZWSP}~{ZWSP} {ZWSP}`{ZWSP}c{ZWSP}`{ZWSP}",
        ),
        ("line\n> quote", "line &gt; quote"),
        ("&amp;", "&amp;amp;"),
        ("line_item=GPU", "line_item=GPU"),
        ("a*b", "a*b"),
        ("a`b", f"a{ZWSP}`{ZWSP}b"),
        ("_x", f"{ZWSP}_{ZWSP}x"),
        ("x_ y", f"x{ZWSP}_{ZWSP} y"),
    ],
)
def test_slack_mrkdwn(raw: str, expected: str) -> None:
    assert slack_mrkdwn(raw) == expected


def test_hostile_text_is_inert_in_mrkdwn() -> None:
    out = slack_mrkdwn(HOSTILE)
    assert "<" not in out
    assert ">" not in out
    assert "*x*" not in out
    assert out.replace(ZWSP, "") == "&lt;!channel&gt; *x* &lt;https://evil|click&gt;"


def test_slack_plain_text_keeps_formatting_characters() -> None:
    assert slack_text(HOSTILE) == "&lt;!channel&gt; *x* &lt;https://evil|click&gt;"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("\"quoted\" & 'single'", "&quot;quoted&quot; &amp; &#x27;single&#x27;"),
        (HOSTILE, "&lt;!channel&gt; *x* &lt;https://evil|click&gt;"),
    ],
)
def test_html_text(raw: str, expected: str) -> None:
    assert html_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme\r\nBcc: evil@example.com", "Acme Bcc: evil@example.com"),
        ("tab\there", "tab here"),
        ("nul\x00byte", "nul byte"),
        ("sep\u2028line", "sep line"),
        ("  many   spaces  ", "many spaces"),
    ],
)
def test_header_safe_is_one_clean_line(raw: str, expected: str) -> None:
    assert header_safe(raw) == expected


def test_header_safe_bounds_length() -> None:
    out = header_safe("x" * 1000, limit=50)
    assert len(out) == 50
    assert out.endswith("…")


def test_plain_text_drops_control_characters() -> None:
    assert plain_text("a\nb\x1b[31mc") == "a b [31mc"
