"""The man page, generated from the CLI itself (commands, arguments, options, help), so it
cannot drift from `--help`. scripts/gen-docs writes docs/multiwan.1; scripts/install puts it
in /usr/local/share/man/man1; a test checks the shipped one is current."""

import click

from multiwan import __version__

EXIT_STATUS = [
    ("0", "success"),
    ("1", "invalid config: every problem printed, nothing applied"),
    ("2", "usage error"),
    ("3", "the kernel refused the change; the previous state was restored"),
    ("4", "no daemon running (commands that talk to it)"),
    ("5", "refused because the daemon runs (flush: stop it first)"),
]
FILES = [
    ("/etc/multiwan/multiwan.toml", "the config (-c)"),
    ("/run/multiwan/", "state directory: control socket, link states, sysctl originals"),
    ("/etc/multiwan/hooks.d/", "executables run on every link state change"),
]


def _escape(text: str) -> str:
    """Text safe in roff: backslashes, hyphens, and a leading dot or quote."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return "\n".join("\\&" + line if line.startswith((".", "'")) else line
                     for line in text.splitlines())  # fmt: skip


def _paragraphs(text: str) -> list[str]:
    """Help text as roff paragraphs (click's own blank-line rule, lines joined)."""
    return [" ".join(p.split()) for p in text.split("\n\n") if p.strip()]


def _options(ctx: click.Context, command: click.Command, help_too: bool = False) -> list[str]:
    lines = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None or (param.name == "help" and not help_too):
            continue
        names, help_text = record
        lines += [".TP", f"\\fB{_escape(names)}\\fR", _escape(help_text or "")]
    return lines


def render(cli: click.Group) -> str:
    """The whole page in roff (no date: the output only changes when the CLI does)."""
    root = click.Context(cli, info_name="multiwan")
    lines = [
        f'.TH MULTIWAN 1 "" "multiwan {__version__}" "User Commands"',
        ".SH NAME",
        f"multiwan \\- {_escape(cli.get_short_help_str(200))}",
        ".SH SYNOPSIS",
        ".B multiwan",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]...",
        ".SH DESCRIPTION",
    ]
    for paragraph in _paragraphs(cli.help or ""):
        lines += [_escape(paragraph), ".PP"]
    lines += [".SH OPTIONS", *_options(root, cli, help_too=True), ".SH COMMANDS"]
    for name in cli.list_commands(root):
        command = cli.get_command(root, name)
        if command is None or command.hidden:
            continue
        ctx = click.Context(command, info_name=name, parent=root)
        usage = " ".join(command.collect_usage_pieces(ctx))
        lines += [f'.SS "multiwan {name}"', f"\\fBmultiwan {name}\\fR {_escape(usage)}", ".PP"]
        for paragraph in _paragraphs(command.help or ""):
            lines += [_escape(paragraph), ".PP"]
        lines += _options(ctx, command)
    lines.append(".SH EXIT STATUS")
    for code, meaning in EXIT_STATUS:
        lines += [".TP", f"\\fB{code}\\fR", _escape(meaning)]
    lines.append(".SH FILES")
    for path, meaning in FILES:
        lines += [".TP", f"\\fI{_escape(path)}\\fR", _escape(meaning)]
    lines += [
        ".SH SEE ALSO",
        "The README (configuration, how it works) and docs/config\\-reference.md (every "
        "config field) in the source; \\fBnft\\fR(8), \\fBip\\-rule\\fR(8), "
        "\\fBjournalctl\\fR(1).",
    ]
    return "\n".join(lines) + "\n"
