"""The data directory's lock and file modes (decision 0030), in one process: ``flock`` locks
of two open files conflict even within one process, so a second taker is refused here as a
second process would be."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.core import crypto
from node.core.charter import Policy, make_genesis, parse_participant_key_file
from node.core.errors import DataDirError, KeyFileError
from node.engine._owner_only import make_private_directory, narrow_to_owner, write_private_file
from node.engine.config import Settings
from node.engine.datadir import (
    DataDir,
    check_data_dir_modes,
    init_data_dir,
    lock_data_dir,
    make_next_keys,
    promote_next_keys,
)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """Everything in the test is created under umask 000: nothing the umask does may matter."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.fixture
def data_dir(tmp_path: Path, open_umask: None) -> Path:
    root = tmp_path / "BW"
    settings = Settings(participant="BW", network="kp.unit", port=8400)
    init_data_dir(root, settings, name="KP authority of Botswana")
    return root


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_init_under_umask_000_makes_every_file_0600_and_directory_0700(data_dir: Path) -> None:
    made = [data_dir, *data_dir.rglob("*")]
    assert {p.name for p in made} >= {
        "node.toml",
        "participant.json",
        "keys",
        "log.pem",
        "disclosure.pem",
        "store",
    }
    for path in made:
        assert _mode(path) == (0o700 if path.is_dir() else 0o600), path


def test_a_second_taker_is_refused_naming_the_holder(data_dir: Path) -> None:
    with lock_data_dir(data_dir, doing="run"):
        for attempt in (
            lambda: lock_data_dir(data_dir, doing="restore"),
            lambda: init_data_dir(data_dir, Settings(participant="BW", network="x"), name="x"),
        ):
            with pytest.raises(DataDirError) as refused:
                attempt()
            assert refused.value.code == "datadir.locked"
            assert f"pid {os.getpid()}, run" in refused.value.message
    # Released: the next taker gets it, and says who it is.
    with lock_data_dir(data_dir, doing="keys promote"):
        assert (data_dir / "node.lock").read_text() == f"pid {os.getpid()}, keys promote\n"
    assert _mode(data_dir / "node.lock") == 0o600


def test_init_refuses_a_directory_in_use_or_not_empty(data_dir: Path) -> None:
    settings = Settings(participant="BW", network="kp.unit")
    with pytest.raises(DataDirError) as refused:
        init_data_dir(data_dir, settings, name="again")
    assert refused.value.code == "datadir.invalid"
    assert "not empty" in refused.value.message


def test_the_lock_needs_a_data_directory(tmp_path: Path) -> None:
    with pytest.raises(DataDirError) as refused:
        lock_data_dir(tmp_path, doing="run")
    assert refused.value.code == "datadir.invalid"
    assert not (tmp_path / "node.lock").exists()


@pytest.mark.parametrize(
    ("relative", "mode", "code"),
    [
        ("", 0o777, "datadir.permissions"),
        ("", 0o720, "datadir.permissions"),
        ("store", 0o702, "datadir.permissions"),
        ("keys", 0o777, "datadir.permissions"),
        ("keys", 0o740, "datadir.permissions"),  # others may not even list the keys
        ("keys/governance.pem", 0o640, "key.file_permissions"),
        ("keys/witness.pem", 0o602, "key.file_permissions"),
        ("keys/next", 0o770, "datadir.permissions"),
        ("keys/next/log.pem", 0o644, "key.file_permissions"),
    ],
    ids=lambda value: value if isinstance(value, str) and value else None,
)
def test_keys_others_could_read_or_replace_are_refused(
    data_dir: Path, relative: str, mode: int, code: str
) -> None:
    next_keys = data_dir / "keys" / "next"
    make_private_directory(next_keys)
    crypto.save_private_key(next_keys / "log.pem", crypto.generate_private_key())
    check_data_dir_modes(data_dir)  # as init and keys next made them: accepted
    target = data_dir / relative
    target.chmod(mode)
    with pytest.raises(DataDirError) as refused:
        check_data_dir_modes(data_dir)
    assert refused.value.code == code
    assert str(target) in refused.value.message
    assert "chmod" in refused.value.message


def test_read_bits_on_the_data_directory_itself_are_allowed(data_dir: Path) -> None:
    data_dir.chmod(0o755)  # a service manager's state directory may be 0755: nothing is in it
    check_data_dir_modes(data_dir)


def test_private_files_and_directories_whatever_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o277)  # would make a directory the owner cannot write
    try:
        make_private_directory(tmp_path / "a" / "b")
    finally:
        os.umask(previous)
    assert _mode(tmp_path / "a" / "b") == 0o700
    previous = os.umask(0)
    try:
        write_private_file(tmp_path / "a" / "b" / "note", b"bytes")
        write_private_file(tmp_path / "a" / "b" / "note", "replaced")
    finally:
        os.umask(previous)
    assert (tmp_path / "a" / "b" / "note").read_text() == "replaced"
    assert _mode(tmp_path / "a" / "b" / "note") == 0o600
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["note"]  # no temporary left


def test_narrow_to_owner_clears_group_and_other_bits(tmp_path: Path) -> None:
    wide = tmp_path / "data.mdb"
    wide.write_bytes(b"")
    wide.chmod(0o666)
    narrow_to_owner(wide)
    assert _mode(wide) == 0o600
    narrow_to_owner(tmp_path / "missing")  # nothing to do


def test_init_lists_the_disclosure_key_in_the_participant_file(data_dir: Path) -> None:
    listed = parse_participant_key_file((data_dir / "participant.json").read_text())
    key = DataDir(data_dir).disclosure_key()
    assert key is not None
    assert listed.disclosure_key == key.public_key().public_bytes_raw()


def test_a_data_dir_made_before_envelopes_has_no_disclosure_key(data_dir: Path) -> None:
    (data_dir / "keys" / "disclosure.pem").unlink()
    assert DataDir(data_dir).disclosure_key() is None


def test_a_signing_key_is_not_taken_for_a_disclosure_key(data_dir: Path) -> None:
    with pytest.raises(KeyFileError) as refused:
        crypto.load_disclosure_key(data_dir / "keys" / "log.pem")
    assert refused.value.code == "key.wrong_type"
    with pytest.raises(KeyFileError) as refused:
        crypto.load_private_key(data_dir / "keys" / "disclosure.pem")
    assert refused.value.code == "key.wrong_type"


def test_a_disclosure_key_rotates_and_the_retired_one_still_opens(data_dir: Path) -> None:
    data = DataDir(data_dir)
    old = data.disclosure_key()
    assert old is not None
    rotated = make_next_keys(data_dir, ["disclosure"])
    listed = parse_participant_key_file((data_dir / "participant.json").read_text())
    assert rotated.disclosure_key != listed.disclosure_key
    assert rotated.log_key == listed.log_key  # the other keys unchanged
    charter = make_genesis("kp.unit", [rotated], Policy(1, 0, 1000, 60, 30))
    assert promote_next_keys(data_dir, charter) == ["disclosure"]
    keys = data.disclosure_keys()
    assert [k.public_key().public_bytes_raw() for k in keys] == [
        rotated.disclosure_key,
        old.public_key().public_bytes_raw(),
    ]
    promoted = parse_participant_key_file((data_dir / "participant.json").read_text())
    assert promoted.disclosure_key == rotated.disclosure_key


def test_a_disclosure_key_the_charter_does_not_list_is_not_promoted(data_dir: Path) -> None:
    current = parse_participant_key_file((data_dir / "participant.json").read_text())
    make_next_keys(data_dir, ["disclosure"])
    charter = make_genesis("kp.unit", [current], Policy(1, 0, 1000, 60, 30))
    with pytest.raises(DataDirError) as refused:
        promote_next_keys(data_dir, charter)
    assert refused.value.code == "key.not_in_charter"


def test_a_data_dir_made_before_envelopes_gets_its_first_disclosure_key(data_dir: Path) -> None:
    (data_dir / "keys" / "disclosure.pem").unlink()
    rotated = make_next_keys(data_dir, ["disclosure"])
    charter = make_genesis("kp.unit", [rotated], Policy(1, 0, 1000, 60, 30))
    promote_next_keys(data_dir, charter)
    [key] = DataDir(data_dir).disclosure_keys()
    assert key.public_key().public_bytes_raw() == rotated.disclosure_key
