"""Code Center: where source enters xae (uploads now; git push next) and becomes a release."""
