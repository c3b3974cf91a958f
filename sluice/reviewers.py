"""The reviewer registry and reviewers' keys.

The registry is configuration: who the reviewers are (canonical id, display name, e-mail),
their Ed25519 public keys, and which issuers may sign decisions for them (their own keys,
attesting services such as an approval inbox that signs for a user it authenticated). What
each reviewer may decide stays in the allow-lists of ``sluice.toml`` (``[approvals.*]``);
``list`` shows both side by side. The approval-policy activity loads the registry with the
policy, so the run's history keeps the version it used, and ``refresh-policy`` carries a
revoked key to runs already waiting.

Private keys never enter the registry: ``add`` writes one, mode 0600, to the reviewer's own
config folder (``~/.config/sluice/keys/<id>.key``, or the file in ``SLUICE_REVIEWER_KEY``).
The embedded development setup keeps the sample reviewers' keys in the data folder.

    python -m sluice.reviewers add bob --name "Bob Marsh" --email bob@example.com
    python -m sluice.reviewers list
    python -m sluice.reviewers revoke bob --key KEY_ID
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from sluice.private_files import private_file, private_folder

SELF_ISSUER = "self"
REVIEWER_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
SAMPLE_REVIEWERS = ("alice", "bob", "dave")
KEY_ENV = "SLUICE_REVIEWER_KEY"


class RegistryError(Exception):
    """The registry or a key file cannot be used; the message says what to do."""


class PublicKey(BaseModel):
    """An Ed25519 public key: ``kid`` is its RFC 7638 thumbprint, ``x`` the JWK member."""

    kid: str
    x: str
    added_at: datetime | None = None


class Reviewer(BaseModel):
    """A person who decides, under one canonical id."""

    id: str
    name: str = ""
    email: str = ""
    keys: list[PublicKey] = Field(default_factory=list)
    # "self": the reviewer's own keys; any other entry names a service in ``services``.
    issuers: list[str] = Field(default_factory=lambda: [SELF_ISSUER])

    @field_validator("id")
    @classmethod
    def _canonical(cls, value: str) -> str:
        if not REVIEWER_ID.match(value):
            raise ValueError("a reviewer id is lower-case ASCII letters, digits, '.', '_' or '-'")
        return value

    @property
    def trusts_own_keys(self) -> bool:
        return SELF_ISSUER in self.issuers


class AttestingService(BaseModel):
    """A service that authenticates people itself and signs decisions for them."""

    id: str
    name: str = ""
    keys: list[PublicKey] = Field(default_factory=list)


class ReviewerRegistry(BaseModel):
    """Every reviewer and attesting service, as one versioned document."""

    reviewers: dict[str, Reviewer] = Field(default_factory=dict)
    services: dict[str, AttestingService] = Field(default_factory=dict)

    @property
    def version(self) -> str:
        """A hash of whose signature counts: the audit records it, ``audit --verify`` finds
        the same trust anchors again by it. Names and e-mails do not change it."""
        return f"reviewers/{self.digest()[:16]}"

    def digest(self) -> str:
        canonical = json.dumps(
            self.trust_anchors().model_dump(mode="json"), sort_keys=True, separators=(",", ":")
        ).encode()
        return hashlib.sha256(canonical).hexdigest()

    def trust_anchors(self) -> ReviewerRegistry:
        """Only what decides whose signature counts (ids, keys, issuers): what a run's
        policy carries, so reviewers' names and e-mails stay out of every history."""
        return ReviewerRegistry(
            reviewers={
                rid: Reviewer(id=r.id, keys=r.keys, issuers=r.issuers)
                for rid, r in self.reviewers.items()
            },
            services={
                sid: AttestingService(id=s.id, keys=s.keys) for sid, s in self.services.items()
            },
        )


# --- the registry file ----------------------------------------------------------------------


def versions_folder(path: Path) -> Path:
    """Every registry version ever saved, by digest, so old decisions can be re-checked."""
    return path.parent / "reviewer-registry-versions"


def load_registry(path: Path) -> ReviewerRegistry:
    """The registry in ``path``; an absent file is an empty registry."""
    if not path.exists():
        return ReviewerRegistry()
    try:
        return ReviewerRegistry.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as err:
        raise RegistryError(f"{path}: not a usable reviewer registry: {err}") from None


def save_registry(path: Path, registry: ReviewerRegistry) -> None:
    """Write the registry atomically, and keep a copy under its version."""
    text = registry.model_dump_json(indent=2) + "\n"
    # Names and e-mails are personal data: the registry and its versions are private files.
    private_folder(path.parent)
    kept = private_folder(versions_folder(path))
    anchors = registry.trust_anchors().model_dump_json(indent=2) + "\n"
    private_file(kept / f"{registry.digest()[:16]}.json").write_text(anchors, encoding="utf-8")
    partial = private_file(path.with_suffix(".tmp"))
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def registry_version(path: Path, version: str) -> ReviewerRegistry | None:
    """The trust anchors as they were at ``version`` (``reviewers/<digest>``), if kept here."""
    digest = version.removeprefix("reviewers/")
    if not re.fullmatch(r"[0-9a-f]{16}", digest):
        return None
    kept = versions_folder(path) / f"{digest}.json"
    if not kept.exists():
        return None
    registry = ReviewerRegistry.model_validate_json(kept.read_bytes())
    return registry if registry.version == version else None


# --- keys --------------------------------------------------------------------------------------


def own_key_file(reviewer: str) -> Path:
    """Where a reviewer's private key lives on their own machine."""
    if os.environ.get(KEY_ENV):
        return Path(os.environ[KEY_ENV])
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "sluice" / "keys" / f"{reviewer}.key"


def sample_key_file(data_dir: Path, reviewer: str) -> Path:
    """Where the embedded development setup keeps a sample reviewer's key."""
    return data_dir / "reviewer-keys" / f"{reviewer}.key"


def new_key_pair(path: Path) -> PublicKey:
    """A fresh Ed25519 key: the private half to ``path`` (mode 0600, never overwritten)."""
    from joserfc.jwk import OKPKey

    key = OKPKey.generate_key("Ed25519")
    private_folder(path.parent)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise RegistryError(f"{path} already exists: it is not overwritten") from None
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(key.as_pem(private=True))
    return public_half(key)


def public_half(key: object) -> PublicKey:
    from joserfc.jwk import OKPKey

    assert isinstance(key, OKPKey)
    return PublicKey(
        kid=key.thumbprint(), x=str(key.as_dict(private=False)["x"]), added_at=datetime.now(UTC)
    )


def read_private_key(path: Path) -> object:
    """The Ed25519 private key in ``path`` (PEM), refusing one others may read."""
    from joserfc.jwk import OKPKey

    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise RegistryError(f"{path} is readable by others (mode {mode:o}): chmod 600 {path}")
        key = OKPKey.import_key(path.read_bytes())
    except OSError as err:
        raise RegistryError(f"{path}: {err.strerror}") from None
    except (ValueError, TypeError) as err:
        raise RegistryError(f"{path}: not an Ed25519 private key ({err})") from None
    if key.curve_name != "Ed25519" or not key.is_private:
        raise RegistryError(f"{path}: not an Ed25519 private key")
    return key


def register_key(
    registry: ReviewerRegistry,
    reviewer_id: str,
    key: PublicKey,
    *,
    name: str = "",
    email: str = "",
    issuers: Sequence[str] = (),
) -> ReviewerRegistry:
    """The registry with ``key`` added to the reviewer (created if new)."""
    reviewers = dict(registry.reviewers)
    current = reviewers.get(reviewer_id) or Reviewer(id=reviewer_id, name=name or reviewer_id)
    reviewers[reviewer_id] = current.model_copy(
        update={
            "name": name or current.name,
            "email": email or current.email,
            "keys": [*current.keys, key],
            "issuers": sorted({*current.issuers, *issuers}),
        }
    )
    return registry.model_copy(update={"reviewers": reviewers})


def ensure_sample_reviewers(data_dir: Path, registry_file: Path, names: Sequence[str]) -> list[str]:
    """Keys for the sample reviewers (and whoever the allow-lists name), created in the data
    folder on first run and registered, so the demo's approve commands sign as they are
    printed. Returns who got a new key."""
    registry = load_registry(registry_file)
    created = []
    for reviewer_id in sorted({*SAMPLE_REVIEWERS, *names}):
        if not REVIEWER_ID.match(reviewer_id):
            continue
        existing = registry.reviewers.get(reviewer_id)
        if existing is not None and existing.keys:
            continue
        path = sample_key_file(data_dir, reviewer_id)
        if path.exists():
            path.unlink()  # an orphan of an interrupted first run: replaced, never reused
        key = new_key_pair(path)
        registry = register_key(registry, reviewer_id, key, email=f"{reviewer_id}@example.com")
        created.append(reviewer_id)
    if created:
        save_registry(registry_file, registry)
    return created


# --- python -m sluice.reviewers ------------------------------------------------------------


def _add(registry_file: Path, args: argparse.Namespace) -> int:
    if not REVIEWER_ID.match(args.reviewer):
        raise RegistryError(
            f"'{args.reviewer}': a reviewer id is lower-case ASCII letters, digits, '.', '_' "
            "or '-' (the display name goes in --name)"
        )
    registry = load_registry(registry_file)
    unknown = [i for i in args.issuer if i != SELF_ISSUER and i not in registry.services]
    if unknown:
        raise RegistryError(f"no attesting service named {', '.join(unknown)} in the registry")
    path = Path(args.key_file) if args.key_file else own_key_file(args.reviewer)
    key = new_key_pair(path)
    save_registry(
        registry_file,
        register_key(
            registry, args.reviewer, key, name=args.name, email=args.email, issuers=args.issuer
        ),
    )
    print(f"{args.reviewer}: new key {key.kid}")
    print(f"  private key: {path} (mode 0600; keep it on {args.reviewer}'s machine only)")
    print(f"  registered in {registry_file}; running runs see it after `starter.py refresh-policy`")
    return 0


def _add_service(registry_file: Path, args: argparse.Namespace) -> int:
    registry = load_registry(registry_file)
    if args.service in registry.reviewers:
        raise RegistryError(f"'{args.service}' is a reviewer's id; name the service otherwise")
    key = new_key_pair(Path(args.key_file))
    services = dict(registry.services)
    current = services.get(args.service) or AttestingService(id=args.service, name=args.name)
    services[args.service] = current.model_copy(update={"keys": [*current.keys, key]})
    save_registry(registry_file, registry.model_copy(update={"services": services}))
    print(f"service {args.service}: new key {key.kid}, private key in {args.key_file}")
    print(f"  trust it for a reviewer: python -m sluice.reviewers add ID --issuer {args.service}")
    return 0


def _list(registry_file: Path, allow_lists: dict[str, dict[str, list[str]]]) -> int:
    registry = load_registry(registry_file)
    print(f"reviewer registry {registry.version} ({registry_file})")
    for reviewer in registry.reviewers.values():
        decides = [
            f"{domain}:{kind}"
            for domain, kinds in sorted(allow_lists.items())
            for kind, names in sorted(kinds.items())
            if reviewer.id in names
        ]
        print(f"  {reviewer.id}  {reviewer.name!r} <{reviewer.email}>")
        print(f"    decides: {', '.join(decides) or 'nothing (not in any allow-list)'}")
        print(f"    issuers: {', '.join(reviewer.issuers)}")
        for key in reviewer.keys:
            print(f"    key {key.kid}")
    for service in registry.services.values():
        print(f"  service {service.id}  {service.name!r}")
        for key in service.keys:
            print(f"    key {key.kid}")
    return 0


def _revoke(registry_file: Path, args: argparse.Namespace) -> int:
    registry = load_registry(registry_file)
    reviewer = registry.reviewers.get(args.reviewer)
    if reviewer is None:
        raise RegistryError(f"no reviewer '{args.reviewer}' in {registry_file}")
    if not args.all and not args.key:
        raise RegistryError("give the key id to revoke, or --all")
    kept = [k for k in reviewer.keys if not args.all and k.kid != args.key]
    if len(kept) == len(reviewer.keys):
        which = f"key {args.key}" if args.key else "keys"
        raise RegistryError(f"{args.reviewer} has no {which} to revoke")
    reviewers = {**registry.reviewers, reviewer.id: reviewer.model_copy(update={"keys": kept})}
    save_registry(registry_file, registry.model_copy(update={"reviewers": reviewers}))
    gone = len(reviewer.keys) - len(kept)
    print(f"{args.reviewer}: {gone} key(s) revoked; {len(kept)} left")
    print("  reach running runs with: starter.py refresh-policy")
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(
        prog="python -m sluice.reviewers", description="Reviewers, their keys and issuers."
    )
    root.add_argument("--config", help="configuration file (default: sluice.toml)")
    commands = root.add_subparsers(dest="action", required=True)
    add = commands.add_parser("add", help="create a key pair for a reviewer and register it")
    add.add_argument("reviewer", help="canonical id, e.g. alice")
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--email", default="", help="for notifications")
    add.add_argument(
        "--issuer", action="append", default=[], help="also trust this attesting service"
    )
    add.add_argument("--key-file", help=f"private key file (default: ${KEY_ENV} or ~/.config)")
    service = commands.add_parser("add-service", help="an attesting service (e.g. web inbox)")
    service.add_argument("service")
    service.add_argument("--name", default="")
    service.add_argument("--key-file", required=True, help="where its private key goes")
    commands.add_parser("list", help="reviewers, what they decide, their keys")
    revoke = commands.add_parser("revoke", help="remove a reviewer's key (or all of them)")
    revoke.add_argument("reviewer")
    group = revoke.add_mutually_exclusive_group(required=True)
    group.add_argument("--key", help="the key id to revoke")
    group.add_argument("--all", action="store_true", help="every key of the reviewer")
    return root


def _key_ids_joined(argv: Sequence[str]) -> list[str]:
    """``--key ID`` as ``--key=ID``: a key id is a base64url thumbprint and may begin
    with '-', which argparse would otherwise take for an option of its own."""
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--key" and arg != "--all":
            joined[-1] = f"--key={arg}"
        else:
            joined.append(arg)
    return joined


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m sluice.reviewers`` and ``starter.py reviewers``."""
    from sluice.config import ConfigError, load_settings

    args = parser().parse_args(_key_ids_joined(sys.argv[1:] if argv is None else argv))
    try:
        settings = load_settings(args.config)
        registry_file = settings.reviewer_registry_file
        if args.action == "add":
            return _add(registry_file, args)
        if args.action == "add-service":
            return _add_service(registry_file, args)
        if args.action == "revoke":
            return _revoke(registry_file, args)
        return _list(
            registry_file, {domain: a.reviewers for domain, a in settings.approvals.items()}
        )
    except (RegistryError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
