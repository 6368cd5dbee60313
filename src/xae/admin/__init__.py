"""`xae-admin`: the operator's command, run on the control plane's own machine.

It starts and stops the server and manages accounts straight in the store, so it is neither
part of the server (`xae.api`, which must not import it) nor a client of the API (`xae.cli`,
which imports no server code). It shares only the client config file (`xae.clientconfig`)
with the CLI, to log this machine's CLI in.
"""
