"""`python -m attune.cli`: the `attune` command, for launchers that start a module
(`torchrun ... -m attune.cli train ...`)."""

from attune.cli.main import app

app()
