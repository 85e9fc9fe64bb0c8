"""The web dashboard served by the user API under ``/ui`` (see :mod:`.app`)."""
