"""Mounting the console: its Router, its templates and its static files, as one Litestar plugin.

`create_app` adds `ConsolePlugin()`; the plugin appends the `/console` router and sets the Jinja
template engine on the templates shipped in this package. The pages are not part of the OpenAPI
document.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Router
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from gateway.console._agencies import agencies
from gateway.console._audit import audit
from gateway.console._login import home, login, login_form, logout
from gateway.console._operations import operation, operations, retry_operation
from gateway.console._tenants import preview, rollback, tenant, tenants, update_routing
from gateway.console._web import CONSOLE, CONSOLE_EXCEPTIONS, console_error, provide_admin, security_headers
from gateway.console._webhooks import redeliver, webhook, webhooks

__all__ = ["ConsolePlugin", "console_router"]

HERE = Path(__file__).parent


def console_router() -> Router:
    return Router(
        path=CONSOLE,
        route_handlers=[
            home,
            login_form,
            login,
            logout,
            tenants,
            tenant,
            update_routing,
            rollback,
            preview,
            agencies,
            operations,
            operation,
            retry_operation,
            webhooks,
            webhook,
            redeliver,
            audit,
            create_static_files_router(
                path="/static", directories=[HERE / "static"], include_in_schema=False, name="console-static"
            ),
        ],
        dependencies={"admin": Provide(provide_admin)},
        exception_handlers=dict.fromkeys(CONSOLE_EXCEPTIONS, console_error),
        after_request=security_headers,
        include_in_schema=False,
    )


class ConsolePlugin(InitPluginProtocol):
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.append(console_router())
        app_config.template_config = TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine)
        return app_config
