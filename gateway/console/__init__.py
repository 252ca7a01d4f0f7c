"""The ops console: `/console`, web pages for admins over the same services as the admin API."""

from gateway.console._plugin import ConsolePlugin, console_router

__all__ = ["ConsolePlugin", "console_router"]
