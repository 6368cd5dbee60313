"""Platform Control: turns the desired state in the store into running instances and routes."""
