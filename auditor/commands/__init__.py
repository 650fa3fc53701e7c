"""CLI subcommands. Each module has `register(subparsers)` that adds its parser and sets
`handler` (a function `(argparse.Namespace) -> int` returning the exit code)."""
