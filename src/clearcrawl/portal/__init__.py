"""The rights-holder portal: `clearcrawl portal serve | add-operator`.

Rights holders file opt-out requests (a domain, a URL prefix or a work) and follow
them with a secret status link; operators review them, and an approved request
becomes a registry entry through `registry.add` (the same validation as `registry
validate`). HTML pages and a JSON API under /api/v1/ share one set of flows
(`flows.py`). Needs the `portal` extra; the pipeline never imports this package.
"""
