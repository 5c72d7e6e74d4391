"""The embedded OpenID Connect provider: Canaille, started like the embedded PostgreSQL.

`provider` starts, stops and administers it (clients, demo users, tokens); `server` is the process
it runs. In production FINEFINANCE_OIDC_ISSUER names the bank's provider (e.g. Keycloak,
`deploy/keycloak/`) and nothing here runs.
"""
