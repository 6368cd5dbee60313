"""The `xae` command: a pure client of xae's REST API (entry point `xae.cli.main:main`).

It must never import the services (store, control, runtime, builder, api): everything it knows
comes over HTTP, so it works the same against a local or a remote control plane. The only
exception is `xae.domain.names`, so that bad names are refused before a request is sent.
"""
