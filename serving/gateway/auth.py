"""Client API keys: loaded from a file and/or an environment variable, kept only as SHA-256 hashes.

A presented key is hashed and compared with every stored hash in constant time (no early exit), so the
time taken says nothing about which key, or how much of one, matched. Keys are never logged; logs and
metrics carry the key's `name`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from serving.gateway.config import ApiKeyEntry, ApiKeysFile, GatewayConfig, RateLimits
from serving.gateway.errors import GatewayError
from specstack.configbase import read_yaml, validate
from specstack.errors import SpecstackError

log = logging.getLogger("specstack.gateway")

ANONYMOUS = "anonymous"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """What the gateway knows about a key once it is loaded: never the key itself."""

    name: str
    digest: bytes
    models: frozenset[str] | None  # None: every model
    limits: RateLimits

    def may_use(self, model: str) -> bool:
        return self.models is None or model in self.models


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


def _from_entry(entry: ApiKeyEntry, default: RateLimits) -> ApiKey:
    digest = _digest(entry.key) if entry.key is not None else bytes.fromhex(entry.sha256 or "")
    # A limit the entry names (even as null: unlimited) is its own; the others come from the defaults.
    merged = default.model_dump()
    merged.update({f: getattr(entry, f) for f in RateLimits.model_fields if f in entry.model_fields_set})
    limits = RateLimits(**merged)
    models = frozenset(entry.models) if entry.models is not None else None
    return ApiKey(entry.name, digest, models, limits)


def read_keys_file(path: Path, default: RateLimits) -> list[ApiKey]:
    """Keys from a YAML or JSON file (see config.ApiKeysFile); errors are one line naming the file."""
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SpecstackError(f"{path}: no such API keys file") from None
        except ValueError as e:
            raise SpecstackError(f"{path}: invalid JSON ({e})") from None
    else:
        try:
            data = read_yaml(path)
        except SpecstackError as e:
            raise SpecstackError(str(e).replace("config file", "API keys file")) from None
    parsed = validate(ApiKeysFile, data, str(path))
    return [_from_entry(e, default) for e in parsed.keys]


def parse_keys_env(value: str, default: RateLimits) -> list[ApiKey]:
    """Keys from 'name=key,name2=key2' (or bare keys, named env-1, env-2, ...)."""
    keys = []
    for i, item in enumerate(p.strip() for p in value.split(",")):
        if not item:
            continue
        name, sep, secret = item.partition("=")
        if not sep:
            name, secret = f"env-{i + 1}", item
        if not name or not secret:
            raise SpecstackError("API keys variable: each entry must be 'name=key' or 'key'")
        keys.append(ApiKey(name.strip(), _digest(secret.strip()), None, default))
    return keys


class KeyStore:
    """The loaded keys; `authenticate` turns an Authorization header into an ApiKey or a 401."""

    def __init__(self, keys: list[ApiKey], default_limits: RateLimits) -> None:
        names = [k.name for k in keys]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise SpecstackError(f"API keys: duplicate key names {dupes}")
        self.keys = keys
        self.anonymous = ApiKey(ANONYMOUS, b"", None, default_limits)

    @classmethod
    def from_config(cls, cfg: GatewayConfig, environ: dict[str, str] | None = None) -> KeyStore:
        environ = os.environ if environ is None else environ
        keys: list[ApiKey] = []
        if cfg.api_keys_file is not None:
            keys += read_keys_file(Path(cfg.api_keys_file), cfg.default_limits)
        if environ.get(cfg.api_keys_env):
            keys += parse_keys_env(environ[cfg.api_keys_env], cfg.default_limits)
        if not keys:
            log.warning(
                "no API keys configured: the gateway accepts every request (key name '%s')", ANONYMOUS
            )
        return cls(keys, cfg.default_limits)

    @classmethod
    def from_entries(cls, entries: list[ApiKeyEntry | dict], default_limits: RateLimits) -> KeyStore:
        """Keys given in code, in the keys-file form (tests, embedding)."""
        parsed = validate(ApiKeysFile, {"keys": entries}, "API keys")
        return cls([_from_entry(e, default_limits) for e in parsed.keys], default_limits)

    @property
    def open(self) -> bool:
        return not self.keys

    def authenticate(self, authorization: str | None) -> ApiKey:
        """The key behind `Authorization: Bearer ...`, or GatewayError(401)."""
        if self.open:
            return self.anonymous
        if not authorization:
            raise GatewayError(
                401,
                "Missing API key: send it as 'Authorization: Bearer <key>'.",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        scheme, _, secret = authorization.partition(" ")
        digest = _digest(secret.strip()) if scheme.lower() == "bearer" else b""
        found = None
        for key in self.keys:  # every key is compared, match or not
            if hmac.compare_digest(digest, key.digest) and found is None:
                found = key
        if found is None:
            raise GatewayError(
                401, "Invalid API key.", code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
            )
        return found

    def names(self) -> list[str]:
        return [k.name for k in self.keys] or [ANONYMOUS]
