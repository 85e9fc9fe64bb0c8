"""Real servers for development and tests, fetched from Maven Central and run on 127.0.0.1."""
