"""Platform Support: metrics, tracing, doctor. Component health is served by `xae.api` today."""
