"""Manage System: the web console, a client of the REST API. Empty until the console issue."""
