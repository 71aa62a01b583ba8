"""teslafleet: the Tesla library, importable with its own requirements alone.

Regions, OAuth (code exchange, refresh, partner tokens), the Fleet API client and the
Tesla.SS256 JWS signer. It imports nothing of the project (no Django, no Celery): the portal,
the sandbox, the benchmarks and the demo depend on it, never the other way round. Its
third-party requirements are listed in `teslafleet/requirements.txt`.
"""
