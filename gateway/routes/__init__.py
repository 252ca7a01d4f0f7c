"""Thin controllers: one per resource, each handler one service call."""
