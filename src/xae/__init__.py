"""xae: a self-hosted App Engine. The folder tree is the architecture; see README.md."""
