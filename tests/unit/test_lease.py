"""alerter.lease: one replica's view of its leases, on a real PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from alerter.lease import Leases, replica_id
from alerter.store.postgres import PostgresLeases, PostgresStore
from tests.postgres import scratch_database


@pytest.fixture
def lease_stores() -> Iterator[tuple[PostgresLeases, PostgresLeases]]:
    with scratch_database("alerter_lease") as url:
        PostgresStore(url).close()  # migrate
        a, b = PostgresLeases(url), PostgresLeases(url)
        yield a, b
        a.close()
        b.close()


def test_holder_ids_are_unique_per_process_start():
    assert replica_id() != replica_id()


def test_one_holder_per_source_then_a_takeover_with_a_higher_token(lease_stores):
    one = Leases(lease_stores[0], "r1", ttl=30)
    two = Leases(lease_stores[1], "r2", ttl=30)
    fence = one.claim("m")
    assert fence is not None and (fence.holder, fence.token) == ("r1", 1)
    assert two.claim("m") is None
    assert one.watch(["m", "n"]) == ["n"]  # renews m, takes the free n
    assert two.watch(["m", "n"]) == []
    one.release_all()  # a clean stop: the others need not wait for the TTL
    assert one.fence("m") is None
    assert sorted(two.watch(["m", "n"])) == ["m", "n"]
    taken = two.fence("m")
    assert taken is not None and taken.token == 2
    assert one.claim("m") is None
    states = {s.source: s for s in two.states(["m", "n", "x"])}
    assert (states["m"].held, states["m"].token, states["m"].takeovers) == (True, 2, 1)
    assert not states["x"].held and states["x"].token is None


def test_a_rejected_write_drops_the_lease_and_is_counted(lease_stores):
    one = Leases(lease_stores[0], "r1", ttl=30)
    assert one.claim("m") is not None
    one.rejected("m")
    (state,) = one.states(["m"])
    assert (state.held, state.lost, state.rejections) == (False, 1, 1)
    again = one.claim("m")  # still r1's row and live: renewed, same token
    assert again is not None and again.token == 1
