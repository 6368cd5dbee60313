"""The kubernetes backend (`XAE_BACKEND=kubernetes`): Deployments, probes, EndpointSlices."""

from xae.runtime.kubernetes.backend import KubernetesOrchestrator, connect, where

__all__ = ["KubernetesOrchestrator", "connect", "where"]
