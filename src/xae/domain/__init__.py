"""Domain objects shared by every layer: typed, validated, and free of I/O."""
