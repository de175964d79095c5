"""A node's data directory: where its settings, keys, published charters and store live.

::

    DIR/node.toml               settings (node/engine/config.py)
    DIR/participant.json        the public key file handed to the others for the charter
    DIR/keys/log.pem            signs checkpoints and admin records (online)
    DIR/keys/witness.pem        cosigns other logs' checkpoints (online)
    DIR/keys/governance.pem     signs charter versions (move it offline after signing the genesis)
    DIR/keys/disclosure.pem     X25519: opens the disclosures encrypted to this participant
    DIR/keys/next/NAME.pem      keys made for a rotation, until the charter lists them
                                (``disclosure`` too: kp-node keys next --disclosure)
    DIR/keys/retired/NAME-T.pem keys a rotation replaced (T: UTC time of the promotion)
    DIR/store/                  the LMDB environment: logs, state, disclosures
    DIR/node.lock               held by the running node (and by restore and keys promote)

Whatever the umask, directories are created 0700 and every file 0600 (node/engine/_owner_only.py).
``kp-node run`` refuses keys others may read or write (node/core/crypto.py,
``check_data_dir_modes``), a ``keys/`` directory others may use, and a data directory others may
write: whoever can put a file there can make the node sign with a key of their own. One process
at a time holds ``node.lock``, and the node's sequencer process holds it with the node
(decision 0030).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.core import crypto
from node.core.charter import Charter, Participant, parse_participant_key_file, participant_key_file
from node.core.errors import DataDirError
from node.engine._owner_only import make_private_directory, write_private_file
from node.engine.config import Settings, load_settings, settings_toml
from node.engine.store import Store

__all__ = [
    "DataDir",
    "DataDirLock",
    "InheritedLock",
    "check_data_dir_modes",
    "init_data_dir",
    "lock_data_dir",
    "make_next_keys",
    "promote_next_keys",
]

KEY_NAMES = ("log", "witness", "governance")
DISCLOSURE_KEY = "disclosure"  # X25519, not Ed25519: it decrypts, never signs (decision 0041)
ROTATABLE = (*KEY_NAMES, DISCLOSURE_KEY)


@dataclass(frozen=True, slots=True)
class DataDir:
    """Paths inside one node's data directory."""

    root: Path

    @property
    def settings_file(self) -> Path:
        return self.root / "node.toml"

    @property
    def participant_file(self) -> Path:
        return self.root / "participant.json"

    @property
    def store_path(self) -> Path:
        return self.root / "store"

    def key_file(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.pem"

    def settings(self) -> Settings:
        if not self.settings_file.is_file():
            raise DataDirError(f"{self.root} is not a node data directory (no node.toml)")
        return load_settings(self.settings_file)

    def next_key_file(self, name: str) -> Path:
        return self.root / "keys" / "next" / f"{name}.pem"

    def key(self, name: str, *, passphrase: bytes | None = None) -> Ed25519PrivateKey:
        return crypto.load_private_key(self.key_file(name), passphrase=passphrase)

    def disclosure_key(self) -> X25519PrivateKey | None:
        """The participant's disclosure key, or ``None`` for a data directory made before
        envelopes (it then opens none)."""
        path = self.key_file(DISCLOSURE_KEY)
        if not path.exists():
            return None
        return crypto.load_disclosure_key(path)

    def disclosure_keys(self) -> tuple[X25519PrivateKey, ...]:
        """The current disclosure key, then the retired ones, newest first: envelopes are never
        re-wrapped, so each opens only with the key its entry was sealed to (decision 0041)."""
        current = self.disclosure_key()
        retired_dir = self.root / "keys" / "retired"
        retired = sorted(retired_dir.glob(f"{DISCLOSURE_KEY}-*.pem"), reverse=True)
        keys = [crypto.load_disclosure_key(path) for path in retired]
        return tuple([current, *keys] if current is not None else keys)

    def open_store(self, settings: Settings | None = None) -> Store:
        settings = settings or self.settings()
        return Store.open(self.store_path, map_size=settings.map_size)


def init_data_dir(
    root: Path,
    settings: Settings,
    *,
    name: str,
    kind: str = "participant",
    passphrase: bytes | None = None,
) -> Participant:
    """Create a data directory: settings, three fresh signing keys and a disclosure key, the
    participant's public key file.

    Args:
        root: the directory; must not exist or be empty.
        settings: the node's settings (participant id, network, address).
        name: the participant's name in the charter (``"Botswana KP authority"``).
        kind: ``participant`` or ``observer``.
        passphrase: encrypts the governance key file (the online keys stay unencrypted so the
            node can start unattended).

    Returns:
        The participant entry for the charter, also written to ``participant.json``.

    Raises:
        DataDirError: ``datadir.locked`` when a node runs on it; ``datadir.invalid`` when the
            directory exists and is not empty.
    """
    if root.exists() and any(root.iterdir()):
        _refuse_if_locked(root)  # say that a node runs there, not only that it is not empty
        raise DataDirError(f"{root} exists and is not empty")
    make_private_directory(root, exist_ok=True)
    os.chmod(root, 0o700)  # an empty directory given to us (a service's StateDirectory)
    make_private_directory(root / "keys")
    data = DataDir(root)
    keys = {}
    for key_name in KEY_NAMES:
        key = crypto.generate_private_key()
        crypto.save_private_key(
            data.key_file(key_name),
            key,
            passphrase=passphrase if key_name == "governance" else None,
        )
        keys[key_name] = crypto.public_key_bytes(key)
    disclosure_key = X25519PrivateKey.generate()
    crypto.save_private_key(data.key_file(DISCLOSURE_KEY), disclosure_key)
    participant = Participant(
        id=settings.participant,
        name=name,
        kind=kind,
        status="active",
        log_key=keys["log"],
        witness_key=keys["witness"],
        governance_key=keys["governance"],
        endpoints=(settings.url,),
        disclosure_key=disclosure_key.public_key().public_bytes_raw(),
    )
    write_private_file(data.settings_file, settings_toml(settings))
    write_private_file(data.participant_file, participant_key_file(participant))
    make_private_directory(data.store_path)
    return participant


def make_next_keys(
    root: Path, names: Iterable[str], *, passphrase: bytes | None = None
) -> Participant:
    """Make fresh keys for a rotation in ``keys/next/`` and return the participant entry that
    lists them (the other keys unchanged), for ``kp-node charter successor --rotate``.

    Args:
        root: the data directory.
        names: which keys to replace, from ``log``, ``witness``, ``governance``, ``disclosure``
            (for a data directory made before disclosure keys: the first one).
        passphrase: encrypts a new governance key file.

    Raises:
        DataDirError: ``datadir.invalid`` for an unknown name or none, or when a next key of
            that name exists already (promote or remove it first).
    """
    data = DataDir(root)
    chosen = sorted(set(names))
    if not chosen or not set(chosen) <= set(ROTATABLE):
        raise DataDirError(f"name one or more of {list(ROTATABLE)} to rotate, not {chosen}")
    current = parse_participant_key_file(data.participant_file.read_text())
    existing = [name for name in chosen if data.next_key_file(name).exists()]
    if existing:
        raise DataDirError(f"{root}: next keys {existing} exist already; promote or remove them")
    make_private_directory(data.next_key_file("log").parent, exist_ok=True)
    public = {}
    for name in chosen:
        if name == DISCLOSURE_KEY:
            disclosure = X25519PrivateKey.generate()
            crypto.save_private_key(data.next_key_file(name), disclosure)
            public["disclosure_key"] = disclosure.public_key().public_bytes_raw()
            continue
        key = crypto.generate_private_key()
        crypto.save_private_key(
            data.next_key_file(name),
            key,
            passphrase=passphrase if name == "governance" else None,
        )
        public[f"{name}_key"] = crypto.public_key_bytes(key)
    return _with_keys(current, public)


def promote_next_keys(root: Path, charter: Charter) -> list[str]:
    """Put the keys of ``keys/next/`` in force once ``charter`` (the version the node's log
    adopted last) lists them: each current key moves to ``keys/retired/``, and
    ``participant.json`` is rewritten. Run while the node is stopped.

    Returns:
        The names of the keys promoted.

    Raises:
        DataDirError: no next keys, or the charter does not list a next online key (the node
            would sign what no peer accepts).
    """
    data = DataDir(root)
    names = [name for name in ROTATABLE if data.next_key_file(name).exists()]
    if not names:
        raise DataDirError(f"{root} holds no next keys (kp-node keys next makes them)")
    settings = data.settings()
    member = charter.participants.get(settings.participant)
    if member is None:
        raise DataDirError(
            f"charter version {charter.version} does not list {settings.participant}"
        )
    for name in names:
        if name == "governance":
            continue  # encrypted, and never used online: the charter's signatures checked it
        if name == DISCLOSURE_KEY:
            key = crypto.load_disclosure_key(data.next_key_file(name))
            public = key.public_key().public_bytes_raw()
        else:
            public = crypto.public_key_bytes(crypto.load_private_key(data.next_key_file(name)))
        if getattr(member, f"{name}_key") != public:
            raise DataDirError(
                f"charter version {charter.version}, adopted by this log, does not list the next"
                f" {name} key: adopt the version that rotates it first",
                code="key.not_in_charter",
            )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    retired = root / "keys" / "retired"
    make_private_directory(retired, exist_ok=True)
    for name in names:
        if data.key_file(name).exists():  # a first disclosure key replaces none
            # Kept, not removed: a retired disclosure key still opens what was sealed to it.
            data.key_file(name).replace(retired / f"{name}-{stamp}.pem")
        data.next_key_file(name).replace(data.key_file(name))
    with contextlib.suppress(OSError):  # gone once empty; whatever else is there stays
        data.next_key_file("log").parent.rmdir()
    current = parse_participant_key_file(data.participant_file.read_text())
    listed = {f"{name}_key": getattr(member, f"{name}_key") for name in names}
    write_private_file(data.participant_file, participant_key_file(_with_keys(current, listed)))
    return names


def _with_keys(participant: Participant, keys: dict[str, bytes]) -> Participant:
    """``participant`` with the public keys named in ``keys`` (``log_key`` ...) replaced."""
    return replace(
        participant,
        log_key=keys.get("log_key", participant.log_key),
        witness_key=keys.get("witness_key", participant.witness_key),
        governance_key=keys.get("governance_key", participant.governance_key),
        disclosure_key=keys.get("disclosure_key", participant.disclosure_key),
    )


def check_data_dir_modes(root: Path) -> None:
    """Refuse a data directory whose keys others could read, replace or add to: the data
    directory itself or ``store/`` writable by group or others (they could swap ``keys/`` or
    the store), ``keys/`` or ``keys/next/`` usable by them at all, or a key file in either with
    any group or other bit (``load_private_key`` refuses those it loads; this also covers the
    governance and next keys, which ``run`` does not load).

    Raises:
        DataDirError: ``datadir.permissions`` for a directory, naming the ``chmod`` that fixes
            it; ``key.file_permissions`` for a key file.
    """
    keys = root / "keys"
    checked = [(root, 0o022), (root / "store", 0o022), (keys, 0o077), (keys / "next", 0o077)]
    for directory, forbidden in checked:
        try:
            mode = stat.S_IMODE(directory.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & forbidden:
            who = "used" if forbidden == 0o077 else "written"
            raise DataDirError(
                f"{directory} may be {who} by others (mode {mode:04o}); "
                f"run: chmod 0700 {directory}",
                code="datadir.permissions",
            )
    for directory in (keys, keys / "next"):
        for key_file in sorted(directory.glob("*.pem")) if directory.is_dir() else ():
            mode = stat.S_IMODE(key_file.lstat().st_mode)
            if mode & 0o077:
                raise DataDirError(
                    f"key file {key_file} has mode {mode:04o}; it must not be accessible by"
                    f" group or others: run: chmod 0600 {key_file}",
                    code="key.file_permissions",
                )


def _refuse_if_locked(root: Path) -> None:
    """Raise ``datadir.locked`` if a process holds ``root``'s lock; take nothing."""
    path = root / "node.lock"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # no lock file: no node ever ran here
    try:
        _take(fd, root)
    finally:
        os.close(fd)  # releases the probe's lock, if it got it


def _take(fd: int, root: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holders = os.pread(fd, 512, 0).decode(errors="replace").split("\n")
        named = "; ".join(line.strip() for line in holders if line.strip()) or "unknown"
        raise DataDirError(
            f"{root} is in use by another kp-node process ({named}); stop it first",
            code="datadir.locked",
        ) from None


class DataDirLock:
    """An exclusive ``flock`` on ``DIR/node.lock``, held until ``release`` or the process ends
    (the kernel drops it with the last descriptor, so a killed node leaves no stale lock).

    A ``flock`` belongs to the open file, not to the process: a child given the descriptor
    (``inheritable``) holds the same lock, which then lasts until both have closed it.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self._fd: int | None = fd
        self.path = path

    def inheritable(self) -> InheritedLock:
        """The lock as a ``spawn`` child receives it (passed in its arguments)."""
        if self._fd is None:
            raise DataDirError(f"{self.path} is no longer held", code="datadir.not_locked")
        return InheritedLock(self._fd)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class InheritedLock:
    """The data directory's lock descriptor, handed to a ``multiprocessing`` ``spawn`` child.

    Pickled while the child is spawned, the descriptor is passed to it (``pass_fds``): the
    child's copy refers to the same open file, so the lock stays held while either process
    lives. ``hold`` in the child adds its pid to what a refused process is told.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __reduce__(self) -> tuple[object, tuple[object]]:
        from multiprocessing import reduction

        return _rebuild_inherited_lock, (reduction.DupFd(self.fd),)

    def hold(self, doing: str) -> None:
        """Record, in the lock file, that this process holds the lock too."""
        # After the holder's own line: a sequencer restarted by the same node replaces its
        # predecessor's.
        first = os.pread(self.fd, 512, 0).split(b"\n", 1)[0]
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, first + f"\npid {os.getpid()}, {doing}\n".encode(), 0)


def _rebuild_inherited_lock(duplicate: Any) -> InheritedLock:  # multiprocessing's _DupFd
    fd = int(duplicate.detach())
    os.set_inheritable(fd, False)  # held here; nothing this child starts gets it
    return InheritedLock(fd)


def lock_data_dir(root: Path, *, doing: str) -> DataDirLock:
    """Take the data directory for this process: a second ``kp-node run`` on it, or a restore
    or key promotion while it runs, is refused at once, naming the process that holds it.

    Args:
        doing: what this process does, for the other's refusal ("run", "restore", ...).

    Raises:
        DataDirError: ``datadir.locked`` when another process holds it; ``datadir.invalid`` when
            ``root`` is no data directory.
    """
    if not (root / "node.toml").is_file():
        raise DataDirError(f"{root} is not a node data directory (no node.toml)")
    path = root / "node.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        _take(fd, root)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {doing}\n".encode(), 0)
    except BaseException:
        os.close(fd)
        raise
    return DataDirLock(fd, path)
