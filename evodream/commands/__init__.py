"""Subcommands of `evodream` that live in modules of their own (see cli.COMMAND_MODULES)."""
