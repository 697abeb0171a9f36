"""`compute.docker_image`: the train stage run inside the team's own image.

`reference` checks the name as the config writes it (pure, imported by the config);
`image` resolves it to a digest on the Docker engine; `probe` asks the image which
Python and libraries it has; `wheel` packs the host's mlgate for images without it;
`container` runs the stage there with the repo read-only and the run directory
writable; `inside` is what runs in the container.
"""
