"""`auditor completion bash|zsh|fish`: shell completion for every command and flag."""

from __future__ import annotations

import argparse

SHELLS = ("bash", "zsh", "fish")

DESCRIPTION = """\
Print the completion script for your shell (argcomplete): commands, flags and their
choices complete with TAB.

examples:
  eval "$(auditor completion bash)"          # ~/.bashrc
  auditor completion zsh > "${fpath[1]}/_auditor"
  auditor completion fish > ~/.config/fish/completions/auditor.fish
"""


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh, fish)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("shell", choices=SHELLS)
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    print(shellcode(["auditor"], shell=args.shell), end="")
    return 0
