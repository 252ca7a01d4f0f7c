"""Settings: one TOML file (config.md) plus `CG_*` environment variables, read once at start.

A wrong config stops the process with a message naming the key — never a half-working gateway:
unknown keys, an agency that is not installed, a rule naming an agency the tenant has no
credentials for, a credential missing a field its adapter needs, a secret whose variable is unset.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

import msgspec

from adapters.base import AdapterSpec, Credential, SecretMissing, credential_from_section
from canonical import CLAIM_TYPES, is_currency
from canonical._iso import COUNTRIES

__all__ = [
    "AgencySettings",
    "ApiKeySettings",
    "ConfigError",
    "RoutingRule",
    "RuleMatch",
    "Settings",
    "TenantSettings",
    "WebhookSettings",
    "load_settings",
    "settings_from_mapping",
]

Scope = Literal["claims:read", "claims:write", "claims:erase", "admin", "metrics"]
#: Tenant names: lower-case letters, digits, `-` and `_` (no `:`), so that no two tenants can
#: collide in a store key (`idem:<tenant>:<key>`).
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
#: Credential fields that hold secrets: only ever `<field>_env` or `<field>_file`, never inline.
_SECRET_FIELD = re.compile(r"(secret|token|password|passwd|api_?key|private_?key)", re.IGNORECASE)


class ConfigError(ValueError):
    """The configuration is wrong; the message names the key."""


class _Config(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Config sections: unknown keys are typos, and typos are errors."""


class AgencySettings(_Config, kw_only=True):
    base_url: str
    token_url: str | None = None
    audience: str | None = None
    poll_interval_seconds: float = 5.0
    #: The most of a credential's rate budget that change feeds and `?refresh=true` reads may
    #: spend (deliveries of writes keep the rest).
    sync_budget_share: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    rate_limit_per_minute: int | None = None
    rate_limit_per_day: int | None = None
    timeout_seconds: float = 10.0
    #: How long after the gateway stopped waiting for a write (timeout, lost answer, dead worker)
    #: the agency may still carry it out. A write whose outcome is unknown is looked up only
    #: after this bound (and resent only when the look-up finds nothing): docs/agencies.md.
    commit_latency_seconds: float = 30.0
    #: Debbie: the voucherTypeId per kind of voucher.
    voucher_types: dict[str, str] | None = None
    #: Anything else an adapter documents (kept as written).
    options: dict[str, Any] = {}


class RuleMatch(_Config, kw_only=True):
    currency: list[str] | None = None
    country: list[str] | None = None
    type: list[str] | None = None
    amount_min: int | None = None
    amount_max: int | None = None


class RoutingRule(_Config, kw_only=True):
    when: RuleMatch
    agency: str


class _Routing(_Config, kw_only=True):
    rules: list[RoutingRule] = []


class TenantSettings(_Config, kw_only=True):
    default_agency: str
    credentials: dict[str, dict[str, Any]] = {}
    routing: _Routing = msgspec.field(default_factory=_Routing)


class ApiKeySettings(_Config, kw_only=True):
    name: str | None = None
    tenant: str | None = None
    scopes: list[Scope]
    key_sha256: str | None = None
    key_env: str | None = None


class WebhookSettings(_Config, kw_only=True):
    """`[webhooks]`: deliveries of the tenants' events to internal services (docs/webhooks.md)."""

    #: Hosts that may be called over plain http and may resolve to private, loopback or link-local
    #: addresses (tests, in-cluster receivers). Every other endpoint must be https to a public address.
    allow_http_hosts: list[str] = []
    #: The variable (or mounted file) holding the key that encrypts signing secrets in the store
    #: (any string; 32 random bytes in base64 are plenty). Unset: a key kept in the store itself.
    secret_key_env: str | None = None
    secret_key_file: str | None = None
    #: One delivery attempt's deadline (connect + send + answer).
    timeout_seconds: float = 10.0
    #: How often an idle endpoint looks for new events in its tenant's feed.
    poll_interval_seconds: float = 1.0
    #: An endpoint failing this long without one success is disabled (3 days).
    disable_after_seconds: float = 3 * 86400.0
    #: A worker holds an endpoint this long per renewal; a dead worker's endpoints move after it.
    lease_seconds: float = 15.0
    #: HTTP requests in flight at once per worker, over all endpoints.
    max_concurrency: int = 64
    #: Attempt records kept per endpoint: at most this many, none older than `attempts_max_age_days`.
    attempts_kept: int = 1000
    attempts_max_age_days: float = 30.0


class Settings(_Config, kw_only=True):
    store_url: str = "memory://"
    idempotency_ttl_seconds: int = 86400
    run_worker: bool = True
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    #: `collection-gateway worker` serves /metrics and /health/{live,ready} on this port (0: any free one).
    worker_port: int = 9000
    #: The worker is not live when one of its loops has not completed a round for this long.
    worker_stall_seconds: float = 180.0
    #: Largest request body accepted (413 above it).
    max_body_bytes: int = 1024 * 1024
    #: The server's own limits (gateway/server.py): connections per server process (503 above),
    #: seconds for a request head and for a body to arrive in full (closed / 408), and how long an
    #: idle keep-alive connection is kept.
    max_connections: int = 1000
    header_timeout_seconds: float = 10.0
    body_timeout_seconds: float = 30.0
    keep_alive_seconds: int = 5
    #: Closed claims' personal data is erased this many days after their last change (0: kept).
    personal_data_retention_days: int = 0
    #: False: `GET /metrics` needs a key with the `metrics` (or `admin`) scope.
    metrics_public: bool = True
    #: Log level of the gateway's own loggers.
    log_level: str = "INFO"
    #: "json" (one JSON object a line: serve, worker) or "text" (readable; the demo's default).
    log_format: str = "json"
    #: Redis key prefix (several gateways may share one Redis).
    store_prefix: str = "cg"
    #: Delivery: attempts before an operation fails with agency_unavailable, and backoff bounds.
    max_attempts: int = 8
    retry_base_seconds: float = 1.0
    retry_max_seconds: float = 300.0
    #: A worker that holds an outbox entry this long without acknowledging it is presumed dead.
    reclaim_idle_seconds: float = 60.0
    #: How long a claim read from its agency may be served from cache.
    claim_cache_seconds: float = 2.0
    #: Streams are capped (docs/operations.md): the newest entries of each tenant's event feed and
    #: of the audit feed are kept (Redis trims in whole blocks, so up to ~100 more).
    events_max_per_tenant: int = 100_000
    audit_max_entries: int = 100_000
    #: Refused key uses (401/403) recorded in the audit per process and minute; the rest are
    #: counted and the count is recorded with the next one that is.
    audit_refusals_per_minute: int = 60
    agencies: dict[str, AgencySettings] = {}
    tenants: dict[str, TenantSettings] = {}
    api_keys: list[ApiKeySettings] = []
    webhooks: WebhookSettings = msgspec.field(default_factory=WebhookSettings)
    #: The environment variable holding the key agency OAuth tokens are sealed with in the store
    #: (gateway/sealed.py); unset: they are stored in clear (a warning at start).
    token_key_env: str | None = None
    #: Resolved at load: the token key's value. Not in the file.
    token_key: str = ""
    #: Resolved at load: the webhook secret key's value (empty: the store keeps one). Not in the file.
    webhook_secret_key: str = ""
    #: Resolved at load: (tenant, agency) → credential with secrets. Not part of the file.
    credentials: dict[str, Credential] = {}
    #: Resolved at load: sha256 hex of each configured key.
    key_hashes: list[str] = []

    def credential(self, tenant: str, agency: str) -> Credential | None:
        return self.credentials.get(f"{tenant}/{agency}")


#: Filled in by the loader (secrets read through the `*_env` / `*_file` references), never by ops.
_COMPUTED = ("credentials", "key_hashes", "webhook_secret_key", "token_key")


def _scalar_kind(kind: Any) -> Any:
    """str, int, float or bool for a field `CG_<NAME>` may set (also when it may be None)."""
    options = [option for option in get_args(kind) if option is not type(None)] or [kind]
    return options[0] if len(options) == 1 and options[0] in (str, int, float, bool) else None


_SCALARS = {
    field.name: _scalar_kind(field.type)
    for field in msgspec.structs.fields(Settings)
    if field.name not in _COMPUTED and _scalar_kind(field.type) is not None
}


def load_settings(
    path: str | None, env: Mapping[str, str], specs: Mapping[str, AdapterSpec] | None = None
) -> Settings:
    """Read the TOML file at `path` (or `CG_CONFIG`), apply `CG_*` overrides, validate."""
    path = path or env.get("CG_CONFIG")
    document: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as handle:
                document = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path}: {exc}") from exc
    return settings_from_mapping(document, env, specs)


def settings_from_mapping(
    document: Mapping[str, Any], env: Mapping[str, str], specs: Mapping[str, AdapterSpec] | None = None
) -> Settings:
    document = dict(document)
    for name, kind in _SCALARS.items():
        value = env.get(f"CG_{name.upper()}")
        if value is not None:
            document[name] = _parse_scalar(f"CG_{name.upper()}", value, kind)
    for computed in _COMPUTED:
        if computed in document:
            raise ConfigError(f"{computed}: not a config key")
    # Named sections are converted one by one so that an error names the agency or tenant.
    agencies = {
        name: _convert(f"agencies.{name}", section, AgencySettings)
        for name, section in _table("agencies", document.pop("agencies", {})).items()
    }
    tenants = {
        name: _convert(f"tenants.{name}", section, TenantSettings)
        for name, section in _table("tenants", document.pop("tenants", {})).items()
    }
    settings = msgspec.structs.replace(_convert("", document, Settings), agencies=agencies, tenants=tenants)
    if specs is None:
        from adapters.registry import discover

        specs = discover()
    return _validated(settings, env, specs)


def _table(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table")
    return value


def _convert(at: str, value: Any, kind: type[Any]) -> Any:
    try:
        return msgspec.convert(value, kind, strict=False)
    except msgspec.ValidationError as exc:
        text, _, where = str(exc).partition(" - at `$")
        key = ".".join(part for part in (at, where.rstrip("`").lstrip(".")) if part)
        raise ConfigError(f"{key}: {text}" if key else text) from exc


def _parse_scalar(name: str, value: str, kind: Any) -> Any:
    try:
        if kind is bool:
            if value.lower() in ("1", "true", "yes", "on"):
                return True
            if value.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        return kind(value)
    except ValueError:
        raise ConfigError(f"{name}: {value!r} is not a valid {kind.__name__}") from None


def _validated(settings: Settings, env: Mapping[str, str], specs: Mapping[str, AdapterSpec]) -> Settings:
    if settings.max_body_bytes <= 0:
        raise ConfigError("max_body_bytes: must be positive")
    if settings.idempotency_ttl_seconds <= 0:
        raise ConfigError("idempotency_ttl_seconds: must be positive")
    if settings.personal_data_retention_days < 0:
        raise ConfigError("personal_data_retention_days: must be 0 (keep) or more")
    for name in ("header_timeout_seconds", "body_timeout_seconds"):
        if getattr(settings, name) <= 0:
            raise ConfigError(f"{name}: must be positive")
    for name in (
        "events_max_per_tenant",
        "audit_max_entries",
        "audit_refusals_per_minute",
        "max_connections",
        "keep_alive_seconds",
    ):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name}: must be at least 1")
    if settings.max_attempts < 1:
        raise ConfigError("max_attempts: must be at least 1")
    if not 1 <= settings.port <= 65535:
        raise ConfigError(f"port: {settings.port} is not a TCP port (1-65535)")
    if settings.log_format not in ("json", "text"):
        raise ConfigError(f"log_format: {settings.log_format!r} is neither 'json' nor 'text'")
    if not 0 <= settings.worker_port <= 65535:
        raise ConfigError(f"worker_port: {settings.worker_port} is not a TCP port (0-65535)")
    if settings.worker_stall_seconds <= 0:
        raise ConfigError("worker_stall_seconds: must be positive")
    if settings.workers < 1:
        raise ConfigError("workers: must be at least 1")
    if not settings.store_url.startswith(("memory://", "redis://", "rediss://", "unix://")):
        raise ConfigError(f"store_url: {settings.store_url!r} is neither memory:// nor redis://")
    for name, agency in settings.agencies.items():
        spec = specs.get(name)
        if spec is None:
            raise ConfigError(
                f"agencies.{name}: no adapter named {name!r} is installed (have: {', '.join(specs)})"
            )
        for field in spec.config_fields:
            if getattr(agency, field, None) in (None, "") and field not in agency.options:
                raise ConfigError(f"agencies.{name}.{field}: required by the {name} adapter")
    credentials: dict[str, Credential] = {}
    for tenant_name, tenant in settings.tenants.items():
        at = f"tenants.{tenant_name}"
        if not TENANT_NAME.match(tenant_name):
            raise ConfigError(
                f"tenants.{tenant_name!r}: a tenant name is 1-63 lower-case letters, digits, '-' or '_'"
            )
        for agency_name, section in tenant.credentials.items():
            for field in section:
                if _SECRET_FIELD.search(field) and not field.endswith(("_env", "_file")):
                    raise ConfigError(
                        f"{at}.credentials.{agency_name}.{field}: a secret never sits in the file; "
                        f"name it with {field}_env (an environment variable) or {field}_file"
                    )
        for agency_name, section in tenant.credentials.items():
            if agency_name not in settings.agencies:
                raise ConfigError(f"{at}.credentials.{agency_name}: no [agencies.{agency_name}] section")
            try:
                credential = credential_from_section(agency_name, tenant_name, section, env)
            except SecretMissing as exc:
                raise ConfigError(f"{at}.{exc}") from None
            for field in specs[agency_name].credential_fields:
                if field not in credential.fields:
                    hint = f" (or {field}_env / {field}_file)"
                    raise ConfigError(f"{at}.credentials.{agency_name}.{field}: required{hint}")
            credentials[f"{tenant_name}/{agency_name}"] = credential
        if tenant.default_agency not in tenant.credentials:
            raise ConfigError(
                f"{at}.default_agency: {tenant.default_agency!r} has no credentials for this tenant"
            )
        for index, rule in enumerate(tenant.routing.rules):
            rule_at = f"{at}.routing.rules[{index}]"
            if rule.agency not in tenant.credentials:
                raise ConfigError(f"{rule_at}.agency: {rule.agency!r} has no credentials for this tenant")
            _check_rule(rule_at, rule.when)
    key_hashes = []
    for index, key in enumerate(settings.api_keys):
        at = f"api_keys[{index}]"
        if key.tenant is not None and key.tenant not in settings.tenants:
            raise ConfigError(f"{at}.tenant: no tenant {key.tenant!r}")
        if key.tenant is not None and "admin" in key.scopes:
            raise ConfigError(f"{at}.scopes: a tenant key cannot carry admin (omit tenant for an admin key)")
        if key.key_sha256:
            digest = key.key_sha256.lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ConfigError(f"{at}.key_sha256: not a SHA-256 hex digest")
        elif key.key_env:
            secret = env.get(key.key_env)
            if not secret:
                raise ConfigError(f"{at}.key_env: environment variable {key.key_env} is not set")
            digest = hashlib.sha256(secret.encode()).hexdigest()
        else:
            raise ConfigError(f"{at}: needs key_sha256 or key_env")
        key_hashes.append(digest)
    webhook_key = _webhook_secret_key(settings.webhooks, env)
    token_key = ""
    if settings.token_key_env:
        token_key = env.get(settings.token_key_env, "")
        if not token_key:
            raise ConfigError(f"token_key_env: environment variable {settings.token_key_env} is not set")
    return msgspec.structs.replace(
        settings,
        credentials=credentials,
        key_hashes=key_hashes,
        webhook_secret_key=webhook_key,
        token_key=token_key,
    )


def _webhook_secret_key(webhooks: WebhookSettings, env: Mapping[str, str]) -> str:
    for name in ("timeout_seconds", "poll_interval_seconds", "disable_after_seconds", "lease_seconds"):
        if getattr(webhooks, name) <= 0:
            raise ConfigError(f"webhooks.{name}: must be positive")
    if webhooks.max_concurrency < 1 or webhooks.attempts_kept < 1 or webhooks.attempts_max_age_days <= 0:
        raise ConfigError(
            "webhooks: max_concurrency, attempts_kept and attempts_max_age_days must be positive"
        )
    for index, host in enumerate(webhooks.allow_http_hosts):
        if not host or "/" in host or host != host.strip().lower():
            raise ConfigError(f"webhooks.allow_http_hosts[{index}]: {host!r} is not a lower-case host name")
    if webhooks.secret_key_env:
        value = env.get(webhooks.secret_key_env)
        if not value:
            raise ConfigError(
                f"webhooks.secret_key_env: environment variable {webhooks.secret_key_env} is not set"
            )
        return value
    if webhooks.secret_key_file:
        try:
            with open(webhooks.secret_key_file, encoding="utf-8") as handle:
                value = handle.read().strip()
        except OSError as exc:
            raise ConfigError(f"webhooks.secret_key_file: {exc.strerror}") from None
        if not value:
            raise ConfigError(f"webhooks.secret_key_file: {webhooks.secret_key_file} is empty")
        return value
    return ""


def _check_rule(at: str, when: RuleMatch) -> None:
    for currency in when.currency or ():
        if not is_currency(currency):
            raise ConfigError(f"{at}.when.currency: {currency!r} is not an ISO 4217 code")
    for country in when.country or ():
        if country not in COUNTRIES:
            raise ConfigError(f"{at}.when.country: {country!r} is not an ISO 3166-1 alpha-2 code")
    for claim_type in when.type or ():
        if claim_type not in CLAIM_TYPES:
            raise ConfigError(f"{at}.when.type: {claim_type!r} is not a claim type")
    if when.amount_min is not None and when.amount_max is not None and when.amount_min > when.amount_max:
        raise ConfigError(f"{at}.when: amount_min is greater than amount_max")
