"""Every way in: the HTTP app, authentication, and the `digione` command line."""
