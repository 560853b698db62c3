"""Peer libraries measured beside Attune, each in its own virtualenv (see the *_runner modules)."""
