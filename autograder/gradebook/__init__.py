"""The course gradebook."""
