"""Code every model of this repository shares."""
