"""The web dashboard served by the user API under :data:`UI_PATH` (see :mod:`.app`)."""

#: Where the user API serves its web dashboard (light to import: the CLI prints it).
UI_PATH = "/ui"
