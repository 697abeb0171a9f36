"""Commands of `mlgate` that are not pipeline stages, one module each (see `mlgate.cli`)."""
