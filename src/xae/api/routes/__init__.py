"""One router module per API resource."""
