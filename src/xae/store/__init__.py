"""State: the desired state of every app, recorded and nothing more.

The store never starts containers or touches the router; the reconciler (`xae.control`) reads
what is recorded here and makes the world match it.
"""
