"""The kubernetes backend (`XAE_BACKEND=kubernetes`): Deployments, probes, EndpointSlices."""

from xae.runtime.kubernetes.backend import KubernetesRuntime

__all__ = ["KubernetesRuntime"]
