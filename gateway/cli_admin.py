"""`collection-gateway tenants …`, `keys … --api`, `audit`: ops commands that talk to a running
gateway's admin API (never to its store), so every change is validated, versioned and audited
exactly as an API call is.

The gateway's URL and an admin key come from `--url` / `--admin-key` or `CG_ADMIN_URL` /
`CG_ADMIN_KEY`. Output is a human-readable table; `--json` prints the API's JSON instead.
Changes read the tenant document first and send its version as `If-Match`, so an edit made by
someone else meanwhile fails with 412 instead of being overwritten.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
import httpx

__all__ = ["audit", "keys_create_command", "keys_list", "keys_revoke", "tenants"]

F = TypeVar("F", bound=Callable[..., Any])


class AdminApi:
    """One short-lived connection per call: a CLI command makes a handful, and nothing stays open."""

    def __init__(self, url: str, key: str, timeout: float = 30.0) -> None:
        self.base_url = url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {key}"}
        self.timeout = timeout

    def call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        try:
            with httpx.Client(base_url=self.base_url, headers=self.headers, timeout=self.timeout) as http:
                response = http.request(method, path, json=body, params=params, headers=headers)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the gateway at {self.base_url}: {exc}") from None
        if response.status_code >= 400:
            raise click.ClickException(_problem_text(response))
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.call(method, path, **kwargs)
        return response.json() if response.content else None

    def pages(self, path: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated list (up to `limit`)."""
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while limit is None or len(items) < limit:
            size = 100 if limit is None else min(100, limit - len(items))
            params: dict[str, Any] = {"limit": size} | ({"cursor": cursor} if cursor else {})
            page = self.json("GET", path, params=params)
            items += page["data"]
            cursor = page.get("next_cursor")
            if not page.get("has_more") or not cursor:
                break
        return items


def _problem_text(response: httpx.Response) -> str:
    try:
        problem = response.json()
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    text = f"HTTP {response.status_code} {problem.get('code', '')}: {problem.get('detail') or problem.get('title')}"
    for error in problem.get("errors") or ():
        text += f"\n  {error.get('pointer') or '/'}: {error.get('detail')}"
    return text


def api_options(command: F) -> F:
    command = click.option("--json", "as_json", is_flag=True, help="print the API's JSON")(command)
    command = click.option(
        "--admin-key",
        envvar="CG_ADMIN_KEY",
        required=True,
        show_envvar=True,
        help="an API key with the admin scope",
    )(command)
    return click.option(
        "--url",
        envvar="CG_ADMIN_URL",
        required=True,
        show_envvar=True,
        help="the gateway's base URL, e.g. http://127.0.0.1:8000",
    )(command)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def when_text(when: dict[str, Any]) -> str:
    parts = [f"{name}={','.join(when[name])}" for name in ("currency", "country", "type") if when.get(name)]
    if when.get("amount_min") is not None:
        parts.append(f"amount>={when['amount_min']}")
    if when.get("amount_max") is not None:
        parts.append(f"amount<={when['amount_max']}")
    return " ".join(parts) or "(any claim)"


def document_text(document: dict[str, Any]) -> str:
    lines = [
        f"tenant          {document['tenant']}",
        f"version         {document['version']}",
        f"default agency  {document['default_agency']}",
        "",
    ]
    if document["rules"]:
        lines.append("rules (first match wins):")
        rows = [
            (index, when_text(rule["when"]), rule["agency"]) for index, rule in enumerate(document["rules"])
        ]
        lines += ["  " + line for line in table(["#", "WHEN", "AGENCY"], rows).splitlines()]
    else:
        lines.append("rules: none (every claim goes to the default agency)")
    lines += ["", "credentials (references only):"]
    for agency, section in document.get("credentials", {}).items():
        lines.append(f"  {agency}: " + " ".join(f"{k}={v}" for k, v in section.items()))
    return "\n".join(lines)


def _show(document: dict[str, Any], as_json: bool) -> None:
    _print_json(document) if as_json else click.echo(document_text(document))


def _change(
    api: AdminApi, tenant: str, reason: str, if_version: int | None, edit: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Read the document, edit it, PUT it back with If-Match: the version read (or --if-version)."""
    response = api.call("GET", f"/v1/admin/tenants/{tenant}")
    document = response.json()
    etag = (
        f'"{if_version}"'
        if if_version is not None
        else response.headers.get("etag", f'"{document["version"]}"')
    )
    edit(document)
    body = {"default_agency": document["default_agency"], "rules": document["rules"], "reason": reason}
    return api.json("PUT", f"/v1/admin/tenants/{tenant}", body=body, headers={"If-Match": etag})  # type: ignore[no-any-return]


reason_option = click.option("--reason", required=True, help="why (kept with the version and in the audit)")
if_version_option = click.option(
    "--if-version", type=int, default=None, help="refuse (412) unless the tenant is still at this version"
)


@click.group()
def tenants() -> None:
    """Tenants' routing on a running gateway: which agency gets new claims (versioned, audited)."""


@tenants.command("list")
@api_options
def tenants_list(url: str, admin_key: str, as_json: bool) -> None:
    """Every tenant with its routing version in force."""
    page = AdminApi(url, admin_key).json("GET", "/v1/admin/tenants")
    if as_json:
        _print_json(page)
        return
    rows = [(t["tenant"], t["version"], t["default_agency"], len(t["rules"])) for t in page["data"]]
    click.echo(table(["TENANT", "VERSION", "DEFAULT", "RULES"], rows))


@tenants.command("show")
@click.argument("tenant")
@api_options
def tenants_show(tenant: str, url: str, admin_key: str, as_json: bool) -> None:
    """A tenant's routing in force (default agency, rules) and credential references."""
    _show(AdminApi(url, admin_key).json("GET", f"/v1/admin/tenants/{tenant}"), as_json)


@tenants.command("set-default")
@click.argument("tenant")
@click.argument("agency")
@reason_option
@if_version_option
@api_options
def tenants_set_default(
    tenant: str, agency: str, reason: str, if_version: int | None, url: str, admin_key: str, as_json: bool
) -> None:
    """Send TENANT's new claims to AGENCY unless a rule matches (existing claims stay where they are)."""

    def edit(document: dict[str, Any]) -> None:
        document["default_agency"] = agency

    _show(_change(AdminApi(url, admin_key), tenant, reason, if_version, edit), as_json)


@tenants.command("add-rule")
@click.argument("tenant")
@click.option("--agency", required=True, help="where matching claims go")
@click.option("--currency", multiple=True, help="ISO 4217 code (repeatable)")
@click.option("--country", multiple=True, help="debtor's ISO 3166 alpha-2 country (repeatable)")
@click.option("--type", "types", multiple=True, help="claim type (repeatable)")
@click.option("--amount-min", type=int, default=None, help="claim total at least (minor units)")
@click.option("--amount-max", type=int, default=None, help="claim total at most (minor units)")
@click.option("--position", type=int, default=None, help="insert at this index (default: last)")
@reason_option
@if_version_option
@api_options
def tenants_add_rule(
    tenant: str,
    agency: str,
    currency: tuple[str, ...],
    country: tuple[str, ...],
    types: tuple[str, ...],
    amount_min: int | None,
    amount_max: int | None,
    position: int | None,
    reason: str,
    if_version: int | None,
    url: str,
    admin_key: str,
    as_json: bool,
) -> None:
    """Add a rule (first match wins): claims matching every given condition go to --agency."""
    when: dict[str, Any] = {}
    for name, values in (("currency", currency), ("country", country), ("type", types)):
        if values:
            when[name] = list(values)
    for name, value in (("amount_min", amount_min), ("amount_max", amount_max)):
        if value is not None:
            when[name] = value

    def edit(document: dict[str, Any]) -> None:
        rules = document["rules"]
        rules.insert(len(rules) if position is None else position, {"when": when, "agency": agency})

    _show(_change(AdminApi(url, admin_key), tenant, reason, if_version, edit), as_json)


@tenants.command("remove-rule")
@click.argument("tenant")
@click.argument("index", type=int)
@reason_option
@if_version_option
@api_options
def tenants_remove_rule(
    tenant: str, index: int, reason: str, if_version: int | None, url: str, admin_key: str, as_json: bool
) -> None:
    """Remove the rule at INDEX (as `tenants show` numbers them)."""

    def edit(document: dict[str, Any]) -> None:
        if not 0 <= index < len(document["rules"]):
            raise click.ClickException(f"{tenant} has no rule {index} (it has {len(document['rules'])})")
        del document["rules"][index]

    _show(_change(AdminApi(url, admin_key), tenant, reason, if_version, edit), as_json)


@tenants.command("rollback")
@click.argument("tenant")
@click.argument("version", type=int)
@reason_option
@if_version_option
@api_options
def tenants_rollback(
    tenant: str, version: int, reason: str, if_version: int | None, url: str, admin_key: str, as_json: bool
) -> None:
    """Make a new version with VERSION's routing."""
    headers = {"If-Match": f'"{if_version}"'} if if_version is not None else None
    document = AdminApi(url, admin_key).json(
        "POST",
        f"/v1/admin/tenants/{tenant}/routing/rollback",
        body={"version": version, "reason": reason},
        headers=headers,
    )
    _show(document, as_json)


@tenants.command("history")
@click.argument("tenant")
@click.option("--limit", type=int, default=None, help="the newest N versions only")
@api_options
def tenants_history(tenant: str, limit: int | None, url: str, admin_key: str, as_json: bool) -> None:
    """Every routing version, newest first: who changed it, when, why, and what it says."""
    versions = AdminApi(url, admin_key).pages(f"/v1/admin/tenants/{tenant}/routing/history", limit)
    if as_json:
        _print_json(versions)
        return
    rows = []
    for v in versions:
        rules = "; ".join(f"{when_text(r['when'])} -> {r['agency']}" for r in v["rules"]) or "-"
        reason = v["reason"] + (f" (rollback to {v['rollback_of']})" if v.get("rollback_of") else "")
        rows.append((v["version"], v["changed_at"], v["changed_by"], v["default_agency"], rules, reason))
    click.echo(table(["VERSION", "CHANGED AT", "BY", "DEFAULT", "RULES", "REASON"], rows))


@tenants.command("preview")
@click.argument("tenant")
@click.argument("claim_file", type=click.File("rb"), default="-")
@api_options
def tenants_preview(tenant: str, claim_file: Any, url: str, admin_key: str, as_json: bool) -> None:
    """Which agency a claim (JSON body of POST /claims, from CLAIM_FILE or stdin) would go to now."""
    try:
        body = json.load(claim_file)
    except ValueError as exc:
        raise click.ClickException(f"the claim is not JSON: {exc}") from None
    answer = AdminApi(url, admin_key).json("POST", f"/v1/admin/tenants/{tenant}/routing/preview", body=body)
    if as_json:
        _print_json(answer)
    else:
        why = "the default agency" if answer["rule"] is None else f"rule {answer['rule']}"
        click.echo(f"{answer['agency']} ({why}, routing version {answer['version']})")


# keys: `create` keeps its offline mode (print a key and its [[api_keys]] entry) and gains --api
def keys_create_command(offline: click.Command) -> click.Command:
    """`keys create`: offline as before, or with --api on a running gateway (the key works at once)."""

    @click.command("create")
    @click.option("--name", required=True)
    @click.option("--tenant", default=None, help="omit for an admin key")
    @click.option(
        "--scope", "scopes", multiple=True, default=("claims:read", "claims:write"), show_default=True
    )
    @click.option("--api", "use_api", is_flag=True, help="create it on a running gateway (admin API)")
    @click.option("--url", envvar="CG_ADMIN_URL", show_envvar=True, help="with --api: the gateway's URL")
    @click.option("--admin-key", envvar="CG_ADMIN_KEY", show_envvar=True, help="with --api: an admin key")
    @click.option("--json", "as_json", is_flag=True, help="with --api: print the API's JSON")
    @click.pass_context
    def create(
        ctx: click.Context,
        name: str,
        tenant: str | None,
        scopes: tuple[str, ...],
        use_api: bool,
        url: str | None,
        admin_key: str | None,
        as_json: bool,
    ) -> None:
        """Make a new key. Offline (default): print it once and the [[api_keys]] entry for the config.
        With --api: create it on a running gateway; it is shown once."""
        if not use_api:
            ctx.invoke(offline, name=name, tenant=tenant, scopes=scopes)
            return
        key = _api(url, admin_key).json(
            "POST", "/v1/admin/api-keys", body={"name": name, "tenant": tenant, "scopes": list(scopes)}
        )
        if as_json:
            _print_json(key)
        else:
            click.echo(f"key (shown once): {key['key']}")
            click.echo(f"id: {key['id']}  name: {key['name']}  tenant: {key['tenant'] or '(admin)'}")
            click.echo(f"scopes: {', '.join(key['scopes'])}")

    return create


def _api(url: str | None, admin_key: str | None) -> AdminApi:
    if not url or not admin_key:
        raise click.UsageError("--api needs --url and --admin-key (or CG_ADMIN_URL and CG_ADMIN_KEY)")
    return AdminApi(url, admin_key)


@click.command("list")
@api_options
def keys_list(url: str, admin_key: str, as_json: bool) -> None:
    """The keys a running gateway knows (never the keys themselves)."""
    keys = AdminApi(url, admin_key).pages("/v1/admin/api-keys")
    if as_json:
        _print_json(keys)
        return
    rows = [
        (
            k["id"],
            k["name"],
            k.get("tenant") or "(admin)",
            ",".join(k["scopes"]),
            k.get("source"),
            k.get("revoked_at"),
        )
        for k in keys
    ]
    click.echo(table(["ID", "NAME", "TENANT", "SCOPES", "SOURCE", "REVOKED AT"], rows))


@click.command("revoke")
@click.argument("key_id")
@api_options
def keys_revoke(key_id: str, url: str, admin_key: str, as_json: bool) -> None:
    """Revoke KEY_ID on a running gateway: its next request is refused (401)."""
    AdminApi(url, admin_key).call("DELETE", f"/v1/admin/api-keys/{key_id}")
    if as_json:
        _print_json({"id": key_id, "revoked": True})
    else:
        click.echo(f"revoked {key_id}")


@click.command("audit")
@click.option("--limit", type=int, default=None, help="the oldest N entries only")
@api_options
def audit(limit: int | None, url: str, admin_key: str, as_json: bool) -> None:
    """The audit feed, oldest first: admin changes and refused key uses."""
    entries = AdminApi(url, admin_key).pages("/v1/admin/audit", limit)
    if as_json:
        _print_json(entries)
        return
    rows = []
    for entry in entries:
        detail = entry.get("detail") or {}
        what = detail.get("reason") or ""
        if entry["action"] == "auth.refused":
            what = f"{detail.get('status')} {detail.get('method')} {detail.get('path')}: {what}"
        rows.append((entry["at"], entry["action"], entry.get("actor"), entry.get("tenant"), what))
    click.echo(table(["AT", "ACTION", "ACTOR", "TENANT", "DETAIL"], rows))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(tenants())
