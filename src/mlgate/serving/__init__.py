"""`mlgate build-image`: a registered model version as a serving container image.

`build` runs the steps: `plan` decides what goes in the image (requirements, labels,
names) from the version's registry record, with no I/O; `dockerfile` renders the Jinja2
template; `context` assembles the build directory; `engine` is the Docker SDK edge
(build, check, push). `image/serve.py` is the scoring server that runs inside the image.
"""
