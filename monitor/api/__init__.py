"""The HTTP API: settings (settings.py), what handlers call (service.py), the aiohttp server
(server.py), the Prometheus exposition (metrics.py) and its OpenAPI document (openapi.yaml).

Nothing is imported here: loading the settings (monitor.config imports monitor.api.settings)
must not load the server, aiohttp and the Prometheus client."""
