"""Files: the .vectro container, legacy Vectro artifacts, and embedding inputs."""
