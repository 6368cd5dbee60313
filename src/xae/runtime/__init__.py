"""App Runtime: runs an app's processes as containers with limits, behind one interface."""
