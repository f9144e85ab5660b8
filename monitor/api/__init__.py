"""The HTTP API: settings (settings.py), what handlers call (service.py), the aiohttp server
(server.py), the Prometheus exposition (metrics.py) and its OpenAPI document (openapi.yaml).

Nothing is imported here: monitor.config imports monitor.api.settings, and the server
imports monitor.config, so an eager import would be circular."""
