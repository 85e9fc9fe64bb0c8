"""Imported only by workers told to (``modules=[...]``); see helper_protocols.MARKER_MODULE."""
