"""The docker runtime backend: one machine, the local Docker engine."""

from xae.runtime.docker.backend import DockerRuntime

__all__ = ["DockerRuntime"]
