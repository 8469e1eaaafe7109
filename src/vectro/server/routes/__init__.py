"""The REST routes, one router per group. A later feature adds its own router (see `create_app`)."""
