"""The commands of ``funcnn``, one module each; :mod:`cli.main` assembles them into the app."""
