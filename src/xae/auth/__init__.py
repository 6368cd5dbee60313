"""Users and API tokens. Every API call but `POST /v1/auth/tokens` needs a bearer token."""
