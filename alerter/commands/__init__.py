"""The commands of ``alerter``, one module per group; ``cli.py`` parses and dispatches."""
