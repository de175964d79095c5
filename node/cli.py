"""``kp-node``: set up, govern and run a participant's node.

Exit codes: 0 success; 1 the ledger refused (the error's code and message are printed);
2 usage error; 3 (``charter status``) some member's log is behind the newest charter version.

    kp-node init --dir DIR --participant BW --network kp.example --name "..."
    kp-node charter genesis --network kp.example --participant-file A.json ... -o genesis.charter
    kp-node charter sign --dir DIR genesis.charter
    kp-node charter verify --genesis HEX genesis.charter [v2.charter ...]
    kp-node charter adopt --dir DIR genesis.charter [v2.charter ...]
    kp-node charter publish --dir DIR genesis.charter [v2.charter ...]
    kp-node charter status --dir DIR [--json]
    kp-node operator add --dir DIR debswana --kind mine --key-file debswana.pem
    kp-node operator revoke --dir DIR debswana --reason "licence withdrawn"
    kp-node operator list --dir DIR
    kp-node evidence list|clear --dir DIR [LOG]
    kp-node charter successor CURRENT [--admit P.json] [--rotate P.json] [--suspend ID]
        [--reinstate ID] [--threshold N] [--witness-quorum N] -o NEXT
    kp-node keys next --dir DIR [--log] [--witness] [--governance] [--disclosure] -o NEW.json
    kp-node keys promote --dir DIR
    kp-node backup --dir DIR --to BACKUP
    kp-node restore --dir DIR genesis.charter [v2.charter ...]
    kp-node run --dir DIR
    kp-node devnet up --dir NET [--participants BW,CA,EU,AE,IN | --participants 20]
        [--observers WDC] [--base-port 8400]
    kp-node devnet scenario --dir NET
    kp-node devnet down --dir NET
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import re
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from node.core import crypto
from node.core.charter import (
    Policy,
    SignedCharter,
    load_participant_key_files,
    make_genesis,
    make_successor,
    participant_key_file,
    sign_charter,
    verify_chain,
    with_status,
)
from node.core.errors import LedgerError, NotAdoptedError
from node.core.records import ROLES
from node.core.rules import KIND_ROLES
from node.engine._owner_only import write_private_file
from node.engine.config import Settings
from node.engine.datadir import (
    DataDir,
    check_data_dir_modes,
    init_data_dir,
    lock_data_dir,
    make_next_keys,
    promote_next_keys,
)
from node.engine.ledger import LedgerNode
from node.engine.replica import clear_quarantine, list_evidence

__all__ = ["main"]

MAX_CHARTER_FILE = 1 << 20


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.handler(args)
        return result
    except LedgerError as exc:
        print(f"kp-node: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"kp-node: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kp-node", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create a data directory with fresh keys")
    init.add_argument("--dir", type=Path, required=True)
    init.add_argument("--participant", required=True, help="participant id, e.g. BW")
    init.add_argument("--network", required=True, help="network name, e.g. kp.example")
    init.add_argument("--name", required=True, help="the participant's name in the charter")
    init.add_argument("--kind", choices=("participant", "observer"), default="participant")
    init.add_argument("--host", default="127.0.0.1")
    init.add_argument("--port", type=int, default=8400)
    init.add_argument("--public-url", default="")
    init.add_argument(
        "--passphrase-env", help="environment variable holding the governance key passphrase"
    )
    init.set_defaults(handler=_init)

    charter = commands.add_parser("charter", help="form, sign, verify and adopt charters")
    charter_commands = charter.add_subparsers(required=True, metavar="ACTION")
    genesis = charter_commands.add_parser("genesis", help="a genesis from participant files")
    genesis.add_argument("--network", required=True)
    genesis.add_argument("--participant-file", type=Path, action="append", required=True)
    genesis.add_argument("--threshold", type=int, help="charter_threshold (default: majority)")
    genesis.add_argument("--witness-quorum", type=int, help="default: members minus one, max 3")
    genesis.add_argument("--mass-tolerance-ppm", type=int, default=1000)
    genesis.add_argument("--max-certificate-days", type=int, default=60)
    genesis.add_argument("--void-grace-days", type=int, default=14)
    genesis.add_argument("-o", "--output", type=Path, required=True)
    genesis.set_defaults(handler=_charter_genesis)
    successor = charter_commands.add_parser(
        "successor", help="the next version: admit, suspend, reinstate, rotate keys, policy"
    )
    successor.add_argument("current", type=Path, help="the version in force")
    successor.add_argument(
        "--admit", type=Path, action="append", default=[], help="a new member's participant.json"
    )
    successor.add_argument(
        "--rotate",
        type=Path,
        action="append",
        default=[],
        help="a member's participant.json with its new keys",
    )
    successor.add_argument("--suspend", action="append", default=[], metavar="ID")
    successor.add_argument("--reinstate", action="append", default=[], metavar="ID")
    successor.add_argument("--threshold", type=int, help="new charter_threshold")
    successor.add_argument("--witness-quorum", type=int, help="new witness_quorum")
    successor.add_argument("-o", "--output", type=Path, required=True)
    successor.set_defaults(handler=_charter_successor)
    sign = charter_commands.add_parser("sign", help="add this participant's signature")
    sign.add_argument("--dir", type=Path, required=True)
    sign.add_argument("--passphrase-env")
    sign.add_argument(
        "--next",
        action="store_true",
        help="sign with the next governance key (keys/next/), as a rotation needs",
    )
    sign.add_argument("file", type=Path)
    sign.set_defaults(handler=_charter_sign)
    verify = charter_commands.add_parser("verify", help="verify a chain of versions")
    verify.add_argument(
        "--genesis", type=_genesis_hash, required=True, help="the trusted genesis hash (64 hex)"
    )
    verify.add_argument("files", type=Path, nargs="+")
    verify.set_defaults(handler=_charter_verify)
    publish = charter_commands.add_parser(
        "publish", help="keep versions in the store without adopting them (a new observer)"
    )
    publish.add_argument("--dir", type=Path, required=True)
    publish.add_argument("files", type=Path, nargs="+")
    publish.set_defaults(handler=_charter_publish)
    adopt = charter_commands.add_parser(
        "adopt",
        help="bring this node's log to the last version given",
        description=(
            "Give the chain of versions, oldest first (the genesis, v2, ...), ending in the one "
            "to adopt. A log that has adopted nothing adopts the last one in its first entry "
            "(the genesis for a founder, version N for a participant admitted in N); a log at "
            "version K adopts each given version above K in turn. Every file is published."
        ),
    )
    adopt.add_argument("--dir", type=Path, required=True)
    adopt.add_argument("files", type=Path, nargs="+")
    adopt.set_defaults(handler=_charter_adopt)
    status = charter_commands.add_parser(
        "status",
        help="the version each member's log has adopted; exit 3 if any is behind",
        description=(
            "Lists each member of the newest charter version this node knows (verified from "
            "the genesis) with the version its log has adopted, as this node's replica shows "
            "it, and flags those behind. Exit codes: 0 every log is at the newest version, "
            "3 some log is behind, 1 this node has adopted nothing."
        ),
    )
    status.add_argument("--dir", type=Path, required=True)
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=_charter_status)

    keys = commands.add_parser("keys", help="rotate this participant's keys")
    keys_commands = keys.add_subparsers(required=True, metavar="ACTION")
    next_keys = keys_commands.add_parser(
        "next", help="make new keys in keys/next/ and the participant file listing them"
    )
    next_keys.add_argument("--dir", type=Path, required=True)
    for name in ("log", "witness", "governance", "disclosure"):
        next_keys.add_argument(f"--{name}", action="store_true", help=f"replace the {name} key")
    next_keys.add_argument("--passphrase-env", help="encrypts a new governance key")
    next_keys.add_argument("-o", "--output", type=Path, required=True, help="participant file")
    next_keys.set_defaults(handler=_keys_next)
    promote = keys_commands.add_parser(
        "promote",
        help="put keys/next/ in force once the adopted charter lists them (node stopped)",
    )
    promote.add_argument("--dir", type=Path, required=True)
    promote.set_defaults(handler=_keys_promote)

    operator = commands.add_parser("operator", help="the operator registry of this log")
    operator_commands = operator.add_subparsers(required=True, metavar="ACTION")
    add = operator_commands.add_parser("add", help="register an operator")
    add.add_argument("--dir", type=Path, required=True)
    add.add_argument("operator")
    add.add_argument("--kind", choices=sorted(KIND_ROLES), required=True)
    add.add_argument(
        "--roles", help=f"comma-separated, from {sorted(ROLES)}; default: all the kind may hold"
    )
    key = add.add_mutually_exclusive_group(required=True)
    key.add_argument("--public-key", help="base64 of the raw 32-byte Ed25519 key")
    key.add_argument(
        "--key-file",
        type=Path,
        help="the operator's public key PEM (`kp key new` writes FILE.pub), or its private key",
    )
    add.add_argument("--licence", default="", help="licence number (default: the operator id)")
    add.add_argument("--valid-until", default="", help="YYYY-MM-DD (default: in five years)")
    add.set_defaults(handler=_operator_add)
    revoke = operator_commands.add_parser("revoke", help="revoke an operator")
    revoke.add_argument("--dir", type=Path, required=True)
    revoke.add_argument("operator")
    revoke.add_argument("--reason", required=True)
    revoke.set_defaults(handler=_operator_revoke)
    listing = operator_commands.add_parser("list", help="list registered operators")
    listing.add_argument("--dir", type=Path, required=True)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=_operator_list)

    evidence = commands.add_parser("evidence", help="evidence and quarantined logs")
    evidence_commands = evidence.add_subparsers(required=True, metavar="ACTION")
    shown = evidence_commands.add_parser("list", help="list stored evidence")
    shown.add_argument("--dir", type=Path, required=True)
    shown.set_defaults(handler=_evidence_list)
    clear = evidence_commands.add_parser(
        "clear", help="lift a log's quarantine (the evidence stays)"
    )
    clear.add_argument("--dir", type=Path, required=True)
    clear.add_argument("log")
    clear.set_defaults(handler=_evidence_clear)

    backup = commands.add_parser("backup", help="copy the store, consistently, while it runs")
    backup.add_argument("--dir", type=Path, required=True)
    backup.add_argument("--to", type=Path, required=True, help="an empty or new directory")
    backup.set_defaults(handler=_backup)

    restore = commands.add_parser(
        "restore",
        help="get this participant's log back from its peers, into an empty store",
        description=(
            "Publish the charter chain (up to the version that admitted this participant, or "
            "newer) into the node's emptied store, or one put back from a backup, and mark it "
            "as restoring. `kp-node run` then "
            "pulls every log from the peers, this node's own included; its sequencer starts by "
            "itself once its log has reached the largest size its peers hold. Until then it "
            "appends nothing, and `charter adopt` is refused."
        ),
    )
    restore.add_argument("--dir", type=Path, required=True)
    restore.add_argument("files", type=Path, nargs="*")
    restore.set_defaults(handler=_restore)

    run = commands.add_parser("run", help="serve the node")
    run.add_argument("--dir", type=Path, required=True)
    run.set_defaults(handler=_run)

    devnet = commands.add_parser("devnet", help="a local network of nodes on loopback")
    devnet_commands = devnet.add_subparsers(required=True, metavar="ACTION")
    up = devnet_commands.add_parser("up", help="create and start a local network")
    up.add_argument("--dir", type=Path, required=True)
    up.add_argument(
        "--participants",
        default="BW,CA,EU,AE,IN",
        help="comma-separated ids, or a count (up to 60) of Kimberley Process participants",
    )
    up.add_argument("--observers", default="")
    up.add_argument("--base-port", type=int, default=8400)
    up.add_argument("--network", default="kp.devnet")
    up.set_defaults(handler=_devnet_up)
    scenario = devnet_commands.add_parser(
        "scenario", help="run the multi-country scenario against a running network"
    )
    scenario.add_argument("--dir", type=Path, required=True)
    scenario.set_defaults(handler=_devnet_scenario)
    down = devnet_commands.add_parser("down", help="stop a local network")
    down.add_argument("--dir", type=Path, required=True)
    down.set_defaults(handler=_devnet_down)
    return parser


# --- handlers ----------------------------------------------------------------------------------


def _passphrase(env: str | None) -> bytes | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        raise LedgerError(f"environment variable {env} is empty", code="key.passphrase_required")
    return value.encode()


def _init(args: argparse.Namespace) -> int:
    settings = Settings(
        participant=args.participant,
        network=args.network,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
    )
    participant = init_data_dir(
        args.dir,
        settings,
        name=args.name,
        kind=args.kind,
        passphrase=_passphrase(args.passphrase_env),
    )
    print(DataDir(args.dir).participant_file.read_text(), end="")
    print(f"kp-node: initialised {participant.id} in {args.dir}", file=sys.stderr)
    return 0


def _read_charter(path: Path) -> SignedCharter:
    with path.open("rb") as f:
        data = f.read(MAX_CHARTER_FILE + 1)
    if len(data) > MAX_CHARTER_FILE:
        raise LedgerError(f"{path} is too large for a charter", code="charter.too_large")
    return SignedCharter.parse(data)


def _write_charter(path: Path, signed: SignedCharter) -> None:
    write_private_file(path, signed.encode())


def _charter_genesis(args: argparse.Namespace) -> int:
    participants = load_participant_key_files(args.participant_file)
    governors = sum(1 for p in participants if p.kind == "participant")
    policy = Policy(
        charter_threshold=args.threshold or governors // 2 + 1,
        witness_quorum=(
            args.witness_quorum
            if args.witness_quorum is not None
            else min(3, len(participants) - 1)
        ),
        mass_tolerance_ppm=args.mass_tolerance_ppm,
        max_certificate_days=args.max_certificate_days,
        void_grace_days=args.void_grace_days,
    )
    charter = make_genesis(args.network, participants, policy)
    _write_charter(args.output, SignedCharter(charter, ()))
    print(charter.hash.hex())
    _print_policy(charter.policy, governors)
    return 0


def _print_policy(policy: Policy, governors: int) -> None:
    """The policy the charter holds, defaults included, on stderr: the founders sign what they
    read here (stdout keeps only what scripts capture)."""
    print(
        f"charter_threshold {policy.charter_threshold} of {governors} participants, "
        f"witness_quorum {policy.witness_quorum}, mass_tolerance_ppm "
        f"{policy.mass_tolerance_ppm}, max_certificate_days {policy.max_certificate_days}, "
        f"void_grace_days {policy.void_grace_days}",
        file=sys.stderr,
    )


def _charter_successor(args: argparse.Namespace) -> int:
    current = _read_charter(args.current).charter
    members = dict(current.participants)
    for participant in load_participant_key_files(args.admit):
        if participant.id in members:
            raise LedgerError(f"{participant.id} is already a member", code="charter.member_exists")
        members[participant.id] = participant
    for participant in load_participant_key_files(args.rotate):
        if participant.id not in members:
            raise LedgerError(
                f"{participant.id} is not a member", code="charter.unknown_participant"
            )
        # New keys, same standing: the status stays what the charter says.
        members[participant.id] = replace(participant, status=members[participant.id].status)
    for member in args.suspend:
        members = with_status(members, member, "suspended")
    for member in args.reinstate:
        members = with_status(members, member, "active")
    policy = replace(
        current.policy,
        charter_threshold=args.threshold or current.policy.charter_threshold,
        witness_quorum=(
            current.policy.witness_quorum if args.witness_quorum is None else args.witness_quorum
        ),
    )
    successor = make_successor(current, participants=members, policy=policy)
    _write_charter(args.output, SignedCharter(successor, ()))
    print(f"version {successor.version}: {successor.hash.hex()}")
    _print_policy(policy, sum(1 for p in members.values() if p.kind == "participant"))
    return 0


def _charter_sign(args: argparse.Namespace) -> int:
    data = DataDir(args.dir)
    settings = data.settings()
    key = crypto.load_private_key(
        data.next_key_file("governance") if args.next else data.key_file("governance"),
        passphrase=_passphrase(args.passphrase_env),
    )
    signed = sign_charter(_read_charter(args.file), settings.participant, key)
    _write_charter(args.file, signed)
    print(f"signed by {settings.participant}: {', '.join(signed.signers())}", file=sys.stderr)
    return 0


def _genesis_hash(text: str) -> bytes:
    """A genesis hash as the charter prints it: 64 hex digits (argparse reports anything else)."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", text.strip()):
        raise argparse.ArgumentTypeError("a genesis hash is 64 hex digits")
    return bytes.fromhex(text.strip())


def _charter_verify(args: argparse.Namespace) -> int:
    versions = [_read_charter(path) for path in args.files]
    latest = verify_chain(versions, args.genesis)
    print(f"valid: version {latest.version} of {latest.network}, hash {latest.hash.hex()}")
    return 0


def _charter_publish(args: argparse.Namespace) -> int:
    versions = [_read_charter(path) for path in args.files]
    node = LedgerNode.open(DataDir(args.dir))
    try:
        for signed in versions:
            node.publish_charter(signed)
    finally:
        node.close()
    for signed in versions:
        print(f"published version {signed.charter.version}: {signed.hash.hex()}")
    return 0


def _charter_adopt(args: argparse.Namespace) -> int:
    versions = [_read_charter(path) for path in args.files]
    node = LedgerNode.open(DataDir(args.dir))
    try:
        receipts = node.adopt_chain(versions)
        with node.state() as state:
            adoptions = {a.entry.seq: a.version for a in state.adoptions(node.log)}
    finally:
        node.close()
    if not receipts:
        print(f"nothing to adopt: the log is at version {max(adoptions.values())} already")
    for receipt in receipts:
        version = adoptions.get(receipt.seq)
        print(
            f"adopted version {version} in {receipt.log} at seq {receipt.seq}:"
            f" {receipt.entry_hash.hex()}"
        )
    return 0


def _charter_status(args: argparse.Namespace) -> int:
    node = LedgerNode.open(DataDir(args.dir))
    try:
        status = node.charter_status()
    finally:
        node.close()
    if status is None:
        raise NotAdoptedError(f"{args.dir}: this node's log has adopted no charter yet")
    if args.json:
        document = {
            "newest_version": status.newest.version,
            "newest_hash": status.newest.hash.hex(),
            "logs": [
                {"log": log.log, "adopted_version": log.adopted_version, "behind": log.behind}
                for log in status.logs
            ],
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"newest charter version {status.newest.version}: {status.newest.hash.hex()}")
        for log in status.logs:
            adopted = "none" if log.adopted_version is None else f"v{log.adopted_version}"
            flag = "  BEHIND" if log.behind else ""
            print(f"{log.log:<8} adopted {adopted}{flag}")
    return 3 if status.behind else 0


def _keys_next(args: argparse.Namespace) -> int:
    names = [name for name in ("log", "witness", "governance", "disclosure") if getattr(args, name)]
    participant = make_next_keys(args.dir, names, passphrase=_passphrase(args.passphrase_env))
    write_private_file(args.output, participant_key_file(participant))
    print(
        f"kp-node: new {', '.join(names)} keys in {args.dir}/keys/next; hand {args.output} to the"
        " others for `charter successor --rotate`",
        file=sys.stderr,
    )
    return 0


def _keys_promote(args: argparse.Namespace) -> int:
    # A running node signs with the keys it loaded: promoting under it would leave it signing
    # with retired ones (decision 0030).
    with lock_data_dir(args.dir, doing="keys promote"):
        node = LedgerNode.open(DataDir(args.dir))
        try:
            with node.state() as state:
                charter = state.adopted_charter(node.log)
        finally:
            node.close()
        if charter is None:
            raise NotAdoptedError(f"{args.dir}: this node's log has adopted no charter yet")
        names = promote_next_keys(args.dir, charter)
    print(f"kp-node: {', '.join(names)} keys of version {charter.version} now in force")
    return 0


def _operator_add(args: argparse.Namespace) -> int:
    if args.key_file is not None:
        public_key = crypto.public_key_bytes(crypto.load_operator_public_key(args.key_file))
    else:
        public_key = base64.b64decode(args.public_key, validate=True)
    roles = args.roles.split(",") if args.roles else sorted(KIND_ROLES[args.kind])
    valid_until = (
        args.valid_until or (datetime.date.today() + datetime.timedelta(days=5 * 365)).isoformat()
    )
    node = LedgerNode.open(DataDir(args.dir))
    try:
        receipt = node.register_operator(
            args.operator,
            kind=args.kind,
            public_key=public_key,
            roles=roles,
            licence=args.licence or args.operator,
            valid_until=valid_until,
        )
    finally:
        node.close()
    print(f"registered {receipt.log}:{args.operator} at seq {receipt.seq}")
    return 0


def _operator_revoke(args: argparse.Namespace) -> int:
    node = LedgerNode.open(DataDir(args.dir))
    try:
        receipt = node.revoke_operator(args.operator, args.reason)
    finally:
        node.close()
    print(f"revoked {receipt.log}:{args.operator} at seq {receipt.seq}")
    return 0


def _operator_list(args: argparse.Namespace) -> int:
    node = LedgerNode.open(DataDir(args.dir))
    try:
        operators = node.operators()
    finally:
        node.close()
    if args.json:
        rows = [
            {
                "operator": op.operator,
                "kind": op.kind,
                "roles": list(op.roles),
                "valid_until": op.valid_until,
                "revoked": op.revoked is not None,
                "public_key": base64.b64encode(op.public_key).decode(),
            }
            for op in operators
        ]
        print(json.dumps(rows, indent=2))
    else:
        for op in operators:
            state = "revoked" if op.revoked is not None else f"until {op.valid_until}"
            print(f"{op.operator:<24} {op.kind:<13} {state:<17} {','.join(op.roles)}")
    return 0


def _evidence_list(args: argparse.Namespace) -> int:
    settings = DataDir(args.dir).settings()
    store = DataDir(args.dir).open_store(settings)
    try:
        with store.read() as reader:
            items = list_evidence(reader)
    finally:
        store.close()
    if not items:
        print("no evidence held: no log was seen to fork or to break a rule")
    for item in items:
        state = "quarantined" if item.get("quarantined") else "cleared"
        fields = [str(item.get(k)) for k in ("log", "kind", "code")]
        print("  ".join([*fields, state, str(item.get("detail"))]))
    return 0


def _evidence_clear(args: argparse.Namespace) -> int:
    settings = DataDir(args.dir).settings()
    store = DataDir(args.dir).open_store(settings)
    try:
        with store.write() as writer:
            lifted = clear_quarantine(writer, args.log)
    finally:
        store.close()
    print(f"{args.log}: {'quarantine lifted' if lifted else 'was not quarantined'}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    versions = [_read_charter(path) for path in args.files]
    # A running node would go on appending to the log it is told to fetch back (decision 0030).
    with lock_data_dir(args.dir, doing="restore"):
        node = LedgerNode.open(DataDir(args.dir))
        try:
            node.begin_restore(versions)
        finally:
            node.close()
    print(
        f"{args.dir}: restoring log {node.log} from its peers; start the node with "
        "`kp-node run`: it appends again once its log is back"
    )
    return 0


def _backup(args: argparse.Namespace) -> int:
    data = DataDir(args.dir)
    store = data.open_store()
    try:
        store.backup(args.to)
    finally:
        store.close()
    print(f"store of {args.dir} copied to {args.to}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from node.server.app import create_app  # the server only where it serves
    from node.server.jsonlog import configure_logging
    from node.server.listener import serve

    data = DataDir(args.dir)
    # Taken before anything is opened or bound, and held until this process and its sequencer
    # process have both ended: a second node on this directory is refused (decision 0030).
    lock = lock_data_dir(args.dir, doing="run")
    try:
        check_data_dir_modes(args.dir)
        node = LedgerNode.open(data)
    except BaseException:
        lock.release()
        raise
    configure_logging(node.settings.log_level)
    try:
        serve(create_app(node, lock=lock), node.settings)
    finally:
        node.close()
        lock.release()
    return 0


def _devnet_up(args: argparse.Namespace) -> int:
    from node.dev.devnet import devnet_up, participant_ids

    description = devnet_up(
        args.dir,
        network=args.network,
        participants=participant_ids(args.participants),
        observers=[o for o in args.observers.split(",") if o],
        base_port=args.base_port,
    )
    print(json.dumps(description, indent=2))
    return 0


def _devnet_scenario(args: argparse.Namespace) -> int:
    from node.dev.scenario import run_scenario

    path = args.dir / "devnet.json"
    description = json.loads(path.read_text())
    description["scenario"] = run_scenario(description)
    write_private_file(path, json.dumps(description, indent=2))
    print(json.dumps(description["scenario"], indent=2))
    return 0


def _devnet_down(args: argparse.Namespace) -> int:
    from node.dev.devnet import devnet_down

    devnet_down(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
