"""The `attune` command line: thin adapters over the library."""
