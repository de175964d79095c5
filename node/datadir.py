"""A node's data directory: where its settings, keys, published charters and store live.

::

    DIR/node.toml               settings (node/config.py)
    DIR/participant.json        the public key file handed to the others for the charter
    DIR/keys/log.pem            signs checkpoints and admin records (online)
    DIR/keys/witness.pem        cosigns other logs' checkpoints (online)
    DIR/keys/governance.pem     signs charter versions (move it offline after signing the genesis)
    DIR/store/                  the LMDB environment: logs, state, disclosures

The directory is created with mode 0700 and keys with 0600; ``open`` refuses keys readable by
others (node/crypto.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from node import crypto
from node.charter import Participant, participant_key_file
from node.config import Settings, load_settings, settings_toml
from node.errors import LedgerError
from node.store import Store

__all__ = ["DataDir", "DataDirError", "init_data_dir"]

KEY_NAMES = ("log", "witness", "governance")


class DataDirError(LedgerError):
    code = "datadir.invalid"


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

    def key(self, name: str, *, passphrase: bytes | None = None) -> Ed25519PrivateKey:
        return crypto.load_private_key(self.key_file(name), passphrase=passphrase)

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
    """Create a data directory: settings, three fresh keys, the participant's public key file.

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
        DataDirError: the directory exists and is not empty.
    """
    if root.exists() and any(root.iterdir()):
        raise DataDirError(f"{root} exists and is not empty")
    (root / "keys").mkdir(parents=True, mode=0o700)
    os.chmod(root, 0o700)
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
    participant = Participant(
        id=settings.participant,
        name=name,
        kind=kind,
        status="active",
        log_key=keys["log"],
        witness_key=keys["witness"],
        governance_key=keys["governance"],
        endpoints=(settings.url,),
    )
    data.settings_file.write_text(settings_toml(settings))
    data.participant_file.write_text(participant_key_file(participant))
    data.store_path.mkdir(mode=0o700)
    return participant
