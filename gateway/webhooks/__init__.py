"""Webhooks to internal services: signing (Standard Webhooks), URL safety, delivery by the worker.

- `signing`: signing secrets (made here, shown once, stored encrypted) and the three headers.
- `safety`: which URLs may be called (https, public addresses; `webhooks.allow_http_hosts`), checked
  when an endpoint is subscribed and again on every connection (DNS can change).
- `delivery`: the worker's dispatcher: one task per endpoint, ordered, at least once, retried.

The admin API and the console reach all of it through `gateway.services.webhooks.WebhookService`.
"""
