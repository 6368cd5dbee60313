"""The REST API: the one front door. The CLI and the console use nothing else."""
