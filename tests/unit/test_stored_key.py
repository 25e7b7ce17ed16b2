"""``stored_key`` reads a stored series key exactly as ``key_from_json`` does."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from alerter.domain import key_from_json, key_json, make_key
from alerter.store.point_rows import stored_key

TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12) | st.sampled_from(
    ['"', "\\", '","', '"],["', "],[", '"]]', "[[", "", " ", "é日🙂", "\u2028", "\x7f"]
)


@given(st.dictionaries(TEXT, TEXT, max_size=4))
def test_a_key_reads_back_as_key_from_json_reads_it(dims):
    key = make_key(dims)
    text = key_json(key)
    assert stored_key(text) == key_from_json(text) == key


@given(st.dictionaries(TEXT, TEXT, max_size=4), st.booleans())
def test_json_written_another_way_still_reads_as_json(dims, ascii_only):
    pairs = [list(pair) for pair in make_key(dims)]
    text = json.dumps(pairs, ensure_ascii=ascii_only)  # spaces after separators
    assert stored_key(text) == key_from_json(text)
