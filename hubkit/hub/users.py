"""Users, organisations and tokens of the local hub, read from a config file.

Without a file the hub has one user (``localuser``) with one write token, or no token at all (anyone may
write): nothing changes for a newcomer. With ``hubkit hub serve --users FILE`` (or ``users.yaml`` in the
data dir) it has the users, orgs and tokens the file lists. Tokens are stored as their sha256, never in
clear::

    users:
      - name: alice
        fullname: Alice A.
        tokens:
          - {sha256: 9f86d08…, role: write, name: laptop}   # hubkit.hub.users.hash_token("hf_…")
          - {sha256: 60303ae…, role: read, name: ci-read}
      - name: bob
        tokens: [{sha256: fd61a03…, role: write}]
    orgs:
      - {name: acme, fullname: Acme Inc., members: [alice], private_by_default: true}

Rules (the Hub's): a write token writes to its user's namespace and to the orgs the user belongs to, a
read token writes nowhere; private repos are visible to the same people and answer 404 to anyone else.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

DEFAULT_USER = "localuser"
DEFAULT_FULLNAME = "hubkit local hub user"
ROLES = ("read", "write")
USERS_FILE = "users.yaml"  # looked for in the data dir when no --users is given


class UsersFileError(ValueError):
    """The users file is malformed: the message names the entry and what to write instead."""


def hash_token(token: str) -> str:
    """The sha256 under which a token is stored.

    Example:
        >>> hash_token("test")[:12]
        '9f86d081884c'
    """
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Identity:
    """Who a request comes from."""

    user: str  # "alice"
    fullname: str  # "Alice A."
    orgs: tuple[str, ...]  # ("acme",)
    role: str  # "write" or "read" (the token's)
    token_name: str = "local"  # shown by whoami
    every_namespace: bool = False  # the one user of a hub without a users file owns every namespace

    def member_of(self, namespace: str) -> bool:
        """Whether ``namespace`` is this user's or one of its orgs (case-insensitively, like repo ids)."""
        if self.every_namespace:
            return True
        folded = namespace.casefold()
        return folded == self.user.casefold() or any(folded == o.casefold() for o in self.orgs)

    def may_write(self, namespace: str) -> bool:
        return self.role == "write" and self.member_of(namespace)


@dataclass(frozen=True)
class Org:
    name: str  # "acme"
    fullname: str  # "Acme Inc."
    members: tuple[str, ...]  # ("alice",)
    private_by_default: bool = False  # new repos of the org are private (Enterprise Hub orgs)


@dataclass(frozen=True)
class Directory:
    """The users, orgs and tokens a hub knows; ``open_write``: no tokens at all, anyone writes as the user."""

    users: dict[str, str]  # name -> fullname
    tokens: dict[str, tuple[str, str, str]]  # sha256 -> (user, role, token name)
    orgs: dict[str, Org] = field(default_factory=dict)
    open_write: bool = False
    single_user: bool = False  # no users file: its one user owns every namespace (as before users existed)

    @classmethod
    def single(cls, token: str | None, user: str = DEFAULT_USER) -> Directory:
        """The default: one user with one write token (``None``: no token, anyone writes as ``user``)."""
        if token is None:
            return cls({user: DEFAULT_FULLNAME}, {}, open_write=True, single_user=True)
        return cls({user: DEFAULT_FULLNAME}, {hash_token(token): (user, "write", "local")}, single_user=True)

    @classmethod
    def from_file(cls, path: Path) -> Directory:
        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UsersFileError(f"Cannot read the users file {path}: {exc}") from None
        return cls.from_dict(data, str(path))

    @classmethod
    def from_dict(cls, data: Any, where: str = "users file") -> Directory:
        if not isinstance(data, dict) or not isinstance(data.get("users"), list) or not data["users"]:
            raise UsersFileError(f"{where}: expected a mapping with a non-empty 'users' list.")
        users: dict[str, str] = {}
        tokens: dict[str, tuple[str, str, str]] = {}
        for entry in data["users"]:
            name = entry.get("name") if isinstance(entry, dict) else None
            if not isinstance(name, str) or not name:
                raise UsersFileError(f"{where}: every user needs a 'name' (got {entry!r}).")
            users[name] = str(entry.get("fullname") or name)
            for tok in entry.get("tokens") or []:
                digest, role = tok.get("sha256"), tok.get("role", "write")
                if not isinstance(digest, str) or len(digest) != 64 or role not in ROLES:
                    raise UsersFileError(
                        f"{where}: user {name}: each token needs 'sha256' (64 hex, from "
                        "hubkit.hub.users.hash_token) and 'role' read or write."
                    )
                tokens[digest.lower()] = (name, role, str(tok.get("name") or role))
        orgs: dict[str, Org] = {}
        for entry in data.get("orgs") or []:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise UsersFileError(f"{where}: every org needs a 'name' (got {entry!r}).")
            members = tuple(entry.get("members") or ())
            unknown = [m for m in members if m not in users]
            if unknown:
                raise UsersFileError(f"{where}: org {entry['name']}: unknown members {unknown}.")
            orgs[entry["name"]] = Org(
                entry["name"],
                str(entry.get("fullname") or entry["name"]),
                members,
                bool(entry.get("private_by_default", False)),
            )
        return cls(users, tokens, orgs)

    def identify(self, token: str) -> Identity | None:
        """The identity behind a token, or None for a token the hub does not know."""
        found = self.tokens.get(hash_token(token))
        if found is None:
            return None
        user, role, name = found
        return self.identity_of(user, role, name)

    def identity_of(self, user: str, role: str = "write", token_name: str = "local") -> Identity:
        orgs = tuple(o.name for o in self.orgs.values() if user in o.members)
        return Identity(user, self.users.get(user, user), orgs, role, token_name, self.single_user)

    @property
    def default_user(self) -> str:
        return next(iter(self.users))
