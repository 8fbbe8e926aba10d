"""Uid leases: distinct per concurrent job, exclusive across pools, never a real user's uid."""

import os
import pwd
import threading
import time

import pytest

from r1kit.sandbox import SandboxUnavailable
from r1kit.sandbox import uids
from r1kit.sandbox.uids import UidPool

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="uid leases are only made as root")


def test_without_root_every_lease_is_none():
    pool = UidPool(None, 2)
    with pool.lease() as a, pool.lease() as b:
        assert (a, b) == (None, None)


@root_only
def test_concurrent_leases_are_distinct_and_the_pool_blocks_when_empty():
    pool = UidPool(60900, 2)
    got = []
    with pool.lease() as a, pool.lease() as b:
        assert {a, b} == {60900, 60901}
        t = threading.Thread(target=lambda: got.append(_lease_once(pool)))
        t.start()
        time.sleep(0.1)
        assert got == []  # both uids are out
    t.join(2)
    assert got and got[0] in (60900, 60901)
    pool.close()


def _lease_once(pool):
    with pool.lease() as uid:
        return uid


@root_only
def test_two_pools_with_the_same_uids_take_turns():
    first, second = UidPool(60910, 1), UidPool(60910, 1)
    got = []
    with first.lease():
        t = threading.Thread(target=lambda: got.append(_lease_once(second)))
        t.start()
        time.sleep(0.1)
        assert got == []  # flock: uid 60910 is held by the first pool
    t.join(2)
    assert got == [60910]
    first.close()
    second.close()


def test_a_real_users_uid_is_refused():
    taken = next(u.pw_uid for u in pwd.getpwall() if u.pw_uid >= 1000)
    with pytest.raises(SandboxUnavailable, match=f"uid {taken} belongs to user"):
        UidPool(taken, 1)


@pytest.mark.parametrize("base", [0, 999, -5, 2**31])
def test_bad_base_raises(base):
    with pytest.raises(ValueError, match="uid_base"):
        UidPool(base, 1)


@root_only
def test_lock_dir_not_owned_by_root_is_refused(tmp_path, monkeypatch):
    lock_dir = tmp_path / "locks"
    lock_dir.mkdir(mode=0o700)
    os.chown(lock_dir, 12345, 12345)
    monkeypatch.setattr(uids, "LOCK_DIR", str(lock_dir))
    with pytest.raises(SandboxUnavailable, match="owned by root"):
        UidPool(60920, 1)
