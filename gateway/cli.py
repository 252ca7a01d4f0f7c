"""`collection-gateway`: serve, worker, demo, sandbox, openapi, keys."""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import glob
import json
import logging
import os
import shutil
import signal
import sys
import tempfile
import threading
from typing import Any

import click

from gateway.cli_admin import audit, keys_create_command, keys_list, keys_revoke, tenants
from gateway.cli_webhooks import webhooks
from gateway.demo import DEMO_CLAIM, DEMO_KEYS
from gateway.logs import get_logger
from gateway.scaffold import new_adapter_command
from gateway.settings import ConfigError, Settings, load_settings, settings_from_mapping

__all__ = ["app_from_env", "main"]

log = logging.getLogger("gateway")
structured = get_logger("gateway")


def _configure_logging(level: str, fmt: str) -> None:
    from gateway.logs import configure_logging

    configure_logging(level, "text" if fmt == "text" else "json")


def _load(config: str | None) -> Settings:
    try:
        return load_settings(config, os.environ)
    except ConfigError as exc:
        raise click.ClickException(f"configuration: {exc}") from None


def app_from_env() -> Any:
    """The ASGI app for `serve` (uvicorn factory): settings from CG_CONFIG and CG_* env."""
    from gateway.app import create_app

    settings = _load(None)
    _configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, tracer_provider=_tracer_provider("collection-gateway-api"))


def _tracer_provider(service_name: str) -> Any:
    """OpenTelemetry, when the OTEL_* environment asks for it (gateway/tracing.py)."""
    from gateway.tracing import tracer_provider_from_env

    try:
        return tracer_provider_from_env(os.environ, service_name)
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.version_option(package_name="collection-gateway")
def main() -> None:
    """One REST API in front of several debt-collection agencies."""


@main.command()
@click.option("--config", envvar="CG_CONFIG", type=click.Path(dir_okay=False), help="TOML config file")
@click.option("--host", envvar="CG_HOST", default=None, help="bind address [127.0.0.1]")
@click.option("--port", envvar="CG_PORT", type=int, default=None, help="port [8000]")
@click.option("--workers", envvar="CG_WORKERS", type=int, default=None, help="server processes [1]")
def serve(config: str | None, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the API (production ASGI server; run_worker decides whether it also delivers)."""
    import uvicorn

    if config:
        os.environ["CG_CONFIG"] = config
    settings = _load(config)  # fail fast, naming the key, before any process starts
    _configure_logging(settings.log_level, settings.log_format)
    from gateway.server import server_options

    # Every server process reads the head deadline from here (gateway/server.py).
    os.environ["CG_HEADER_TIMEOUT_SECONDS"] = str(settings.header_timeout_seconds)
    processes = workers or settings.workers
    if processes > 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        _multiprocess_metrics()
    uvicorn.run(
        "gateway.cli:app_from_env",
        factory=True,
        **server_options(settings),
        host=host or settings.host,
        port=port or settings.port,
        workers=processes,
        log_level=settings.log_level.lower(),
        log_config=None,  # uvicorn's lines go through our handler (gateway/logs.py), as JSON too
        access_log=False,  # ours has the route template, tenant and key id (gateway/middleware.py)
        proxy_headers=True,
    )


def _multiprocess_metrics() -> None:
    """Server processes share their metrics through files in PROMETHEUS_MULTIPROC_DIR.

    Set before uvicorn starts its processes, which inherit it, so that their prometheus_client
    writes each sample to a file there and /metrics sums them (gateway/metrics.py). A directory
    named by the environment (a pod's emptyDir) is emptied first: files of an earlier run would
    be added to this one's; otherwise a fresh temporary one is removed on exit.
    """
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        os.makedirs(directory, exist_ok=True)
        for stale in glob.glob(os.path.join(directory, "*.db")):
            os.remove(stale)
    else:
        directory = tempfile.mkdtemp(prefix="cg-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        atexit.register(shutil.rmtree, directory, True)
    log.info("metrics of all server processes are shared through %s", directory)


@main.command()
@click.option("--config", envvar="CG_CONFIG", type=click.Path(dir_okay=False), help="TOML config file")
@click.option(
    "--host", envvar="CG_HOST", default=None, help="bind address of /metrics and /health [127.0.0.1]"
)
@click.option(
    "--port", envvar="CG_WORKER_PORT", type=int, default=None, help="port of /metrics and /health [9000]"
)
def worker(config: str | None, host: str | None, port: int | None) -> None:
    """Deliver queued operations and poll outcomes (whatever run_worker says), until SIGTERM.

    Serves /metrics, /health/live and /health/ready on its own port (gateway/worker_http.py).
    """
    settings = _load(config)
    _configure_logging(settings.log_level, settings.log_format)
    asyncio.run(_run_worker(settings, host or settings.host, settings.worker_port if port is None else port))


async def _run_worker(settings: Settings, host: str, port: int) -> None:
    from gateway.runtime import Runtime
    from gateway.worker import Worker
    from gateway.worker_http import bound_port, start_worker_http

    runtime = Runtime(settings, tracer_provider=_tracer_provider("collection-gateway-worker"))
    await runtime.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    delivery = Worker(runtime)
    http = await start_worker_http(delivery, runtime, host, port)
    structured.info("worker started", pid=os.getpid(), host=host, port=bound_port(http))
    try:
        await delivery.run(stop)
    finally:
        await http.cleanup()
        await runtime.stop()


@main.command()
@click.argument("agency")
@click.option("--port", type=int, default=0, help="port (0 = a free one)")
@click.option("--host", default="127.0.0.1")
def sandbox(agency: str, port: int, host: str) -> None:
    """Run an agency's sandbox (a faithful simulator of its API)."""
    import uvicorn

    from adapters.registry import discover

    spec = discover().get(agency)
    if spec is None or spec.sandbox is None:
        raise click.ClickException(f"no sandbox for {agency!r}")
    uvicorn.run(spec.sandbox.create_app(), host=host, port=port, log_level="warning")


@main.command()
def openapi() -> None:
    """Print the OpenAPI 3.1 document."""
    from gateway.app import create_app
    from gateway.openapi import served_document

    app = create_app(settings_from_mapping({}, {}, {}), specs={})
    click.echo(json.dumps(served_document(app), indent=2))


@main.group()
def keys() -> None:
    """API keys."""


@keys.command("create")
@click.option("--name", required=True)
@click.option("--tenant", default=None, help="omit for an admin key")
@click.option("--scope", "scopes", multiple=True, default=("claims:read", "claims:write"), show_default=True)
def keys_create(name: str, tenant: str | None, scopes: tuple[str, ...]) -> None:
    """Make a new key: prints it once, and the [[api_keys]] entry (its SHA-256 only) for the config."""
    from gateway.auth import generate_key, hash_key

    key = generate_key()
    click.echo(f"key (shown once): {key}\n")
    click.echo("[[api_keys]]")
    click.echo(f'name = "{name}"')
    if tenant:
        click.echo(f'tenant = "{tenant}"')
    click.echo("scopes = [" + ", ".join(f'"{s}"' for s in scopes) + "]")
    click.echo(f'key_sha256 = "{hash_key(key)}"')


@main.command()
@click.option("--host", envvar="CG_HOST", default="127.0.0.1")
@click.option("--port", envvar="CG_PORT", type=int, default=8000)
@click.option(
    "--store", "store_url", envvar="CG_STORE_URL", default="memory://", help="memory:// or redis://"
)
def demo(host: str, port: int, store_url: str) -> None:
    """The gateway with the embedded store, in-process worker, every agency sandbox, demo tenants."""
    import uvicorn

    from adapters.registry import discover
    from adapters.sandbox_kit import serve_in_thread
    from gateway.app import create_app
    from gateway.demo import DemoReceiver, demo_document, start_agency_activity, subscribe_demo_receiver

    _configure_logging("INFO", os.environ.get("CG_LOG_FORMAT", "text"))
    specs = discover()
    servers = [
        (name, serve_in_thread(spec.sandbox.create_app())) for name, spec in specs.items() if spec.sandbox
    ]
    try:
        document, secrets = demo_document(
            specs, {name: server.base_url for name, server in servers}, store_url
        )
        if "intrum" in document["agencies"]:
            # Intrum's 100 calls a minute: polled every 5 s (config.md's example), its change feed
            # and outcome polls leave room in the sync share for `?refresh=true` reads.
            document["agencies"]["intrum"]["poll_interval_seconds"] = 5
        settings = settings_from_mapping(document, {**os.environ, **secrets}, specs)
    except (ValueError, ConfigError) as exc:
        raise click.ClickException(f"demo configuration: {exc}") from None
    # The agencies act on their own (collect payments, change statuses) so that the feeds have
    # something to show: `payment.received` events appear within a minute of a claim.
    base = f"http://{host}:{port}"
    start_agency_activity(
        {name: server.base_url for name, server in servers},
        gateway_url=base,
        document=document,
        secrets=secrets,
    )
    receiver = DemoReceiver(echo=lambda line: click.echo(f"  [receiver] {line}"))
    receiver_server = serve_in_thread(receiver)  # type: ignore[arg-type]
    servers.append(("receiver", receiver_server))
    click.echo(_demo_banner(base, servers, document["tenants"]))

    def subscribe() -> None:
        try:
            endpoint = subscribe_demo_receiver(base, receiver, f"{receiver_server.base_url}/hooks")
        except Exception as exc:
            click.echo(f"  [receiver] could not subscribe acme: {exc}", err=True)
            return
        click.echo(
            f"  [receiver] acme's events go to {endpoint['url']} ({endpoint['id']}); see them at"
            f" {receiver_server.base_url}/ and the attempts at\n"
            f"             curl -s -H 'Authorization: Bearer {DEMO_KEYS['admin']}'"
            f" {base}/v1/admin/tenants/acme/webhooks/{endpoint['id']}/deliveries"
        )

    threading.Thread(target=subscribe, name="demo-subscribe", daemon=True).start()
    try:
        uvicorn.run(
            create_app(settings, tracer_provider=_tracer_provider("collection-gateway-demo")),
            host=host,
            port=port,
            log_level="warning",
            log_config=None,
            access_log=False,
        )
    finally:
        for _, server in servers:
            with contextlib.suppress(Exception):
                server.stop()


def _demo_banner(base: str, servers: list[Any], tenants: dict[str, Any]) -> str:
    lines = ["", "collection-gateway demo (embedded store: everything is forgotten on exit)", ""]
    lines += [f"  gateway        {base}   (docs: {base}/docs, OpenAPI: {base}/v1/openapi.json)"]
    lines += [f"  sandbox {name:<7} {server.base_url}" for name, server in servers if name != "receiver"]
    lines += [
        f"  webhooks       {server.base_url}/   (a receiver subscribed to acme's events: signed deliveries, verified)"
        for name, server in servers
        if name == "receiver"
    ]
    lines += ["", "  tenants:"]
    for tenant, config in tenants.items():
        rules = config.get("routing", {}).get("rules", [])
        extra = "".join(f", {','.join(r['when'].get('currency', []))} -> {r['agency']}" for r in rules)
        lines.append(f"    {tenant:<7} default agency {config['default_agency']}{extra}")
    lines += ["", "  API keys:"]
    lines += [f"    {who:<7} {key}" for who, key in DEMO_KEYS.items()]
    auth = f"-H 'Authorization: Bearer {DEMO_KEYS['acme']}'"
    lines += [
        "",
        "  try:",
        f"    curl -s {base}/health/ready",
        f"    curl -s {auth} {base}/v1/agencies",
        f"    curl -s {auth} -H 'Idempotency-Key: demo-1' -H 'Prefer: wait=10' \\",
        f"         -H 'Content-Type: application/json' -d '{json.dumps(DEMO_CLAIM, separators=(',', ':'))}' \\",
        f"         {base}/v1/tenants/acme/claims",
        f"    curl -s {auth} {base}/v1/tenants/acme/claims",
        f"    curl -s {auth} {base}/v1/tenants/acme/events",
        "",
    ]
    return "\n".join(lines)


# Ops commands on a running gateway's admin API (gateway/cli_admin.py).
main.add_command(tenants)
main.add_command(audit)
main.add_command(webhooks)
keys.add_command(keys_create_command(keys_create))
keys.add_command(keys_list)
keys.add_command(keys_revoke)


main.add_command(new_adapter_command)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
