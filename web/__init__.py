"""The aiohttp server `loa run` starts beside the bot: webhook, agency REST API, CAP ingest,
Open311, health and metrics."""
