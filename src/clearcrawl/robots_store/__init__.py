"""Today's robots.txt of every origin of a crawl: `clearcrawl robots fetch` and its store.

fetch.py fetches (asyncio + aiohttp), store.py writes the Parquet store, reading.py reads it,
cli.py is the command, vhosts.py a local virtual-host proxy for tests and the bench.
The rule that picks the applicable fetch is pure: `clearcrawl.core.robots_fetches`.
"""
