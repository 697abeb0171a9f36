"""`mlgate build-image`: a registered model version as a serving container image.

`plan` decides what goes in the image (requirements, labels, names) from the version's
registry record, with no I/O; `dockerfile` renders the Jinja2 template; `context`
assembles the build directory; `engine` is the Docker SDK edge (build, push).
`image/serve.py` is the scoring server that runs inside the image.
"""
