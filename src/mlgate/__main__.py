from mlgate.cli import entrypoint

entrypoint()
