"""The `tocsin` command as users run it: the installed executable, one process per
command line, never `CliRunner` on the whole application.

The executable builds only the group a command line names (``tocsin.cli.main``), so a
command that is registered only when the whole application is built works in tests on
``app`` and is missing for users. These tests list every group and command from the
real application, then ask the executable for each one's ``--help`` in a fresh process,
and check the README's command lines against the same lazily built parser the
executable uses.
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import typer
from tests.support.servers import TOCSIN, clean_env
from typer.core import TyperGroup

from tocsin.cli.main import app

README = Path(__file__).resolve().parents[2] / "README.md"
PARALLEL = 4
TIMEOUT_SECONDS = 120


@dataclass(frozen=True)
class Node:
    path: tuple[str, ...]
    children: tuple[str, ...]  # the visible subcommands of a group; () for a command

    @property
    def line(self) -> str:
        return " ".join(("tocsin", *self.path))


def command_tree() -> list[Node]:
    """The root, every group and every command of the whole application."""
    found: list[Node] = []

    def walk(command: object, path: tuple[str, ...]) -> None:
        children: tuple[str, ...] = ()
        if isinstance(command, TyperGroup):
            visible = {n: c for n, c in command.commands.items() if not c.hidden}
            children = tuple(sorted(visible))
            for name, child in visible.items():
                walk(child, (*path, name))
        found.append(Node(path, children))

    walk(typer.main.get_command(app), ())
    return found


def run_all(argvs: list[list[str]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    env = clean_env()

    def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            argv,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )

    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(pool.map(run, argvs))


def listed_commands(help_text: str) -> set[str]:
    """The names in the "Commands" panel of a group's help."""
    names: set[str] = set()
    inside = False
    for line in help_text.splitlines():
        if re.match(r"^\W*Commands\b", line.strip("╭─ ")):
            inside = True
        elif inside and line.startswith("╰"):
            break
        elif inside and (row := re.match(r"^│ (\S+)", line)):
            names.add(row[1])
    return names


def test_every_group_and_command_answers_help_from_the_installed_executable(
    tmp_path: Path,
) -> None:
    """``tocsin [GROUP...] [COMMAND] --help`` for everything the application has: exit
    0, no traceback, the usage line of that very command, and for a group the commands
    the whole application has under it, no fewer and no more. Run in an empty
    directory: help needs no set-up."""
    nodes = command_tree()
    assert len(nodes) > 80  # the whole tree, not a part of it
    results = run_all([[TOCSIN, *node.path, "--help"] for node in nodes], tmp_path)
    problems = []
    for node, result in zip(nodes, results, strict=True):
        output = result.stdout + result.stderr
        if result.returncode != 0 or "Traceback" in output:
            problems.append(f"{node.line} --help: exit {result.returncode}\n{output[-2000:]}")
            continue
        if f"Usage: {node.line} " not in " ".join(result.stdout.split()):
            problems.append(f"{node.line} --help: no usage line\n{result.stdout[:500]}")
        if node.children and listed_commands(result.stdout) != set(node.children):
            problems.append(
                f"{node.line} --help lists {sorted(listed_commands(result.stdout))}, "
                f"the application has {list(node.children)}"
            )
    assert not problems, "\n\n".join(problems)


def test_a_command_missing_from_the_executable_would_be_caught(tmp_path: Path) -> None:
    """The check above can fail: an unknown command is refused by the executable, and
    a group's listing is read exactly."""
    [result] = run_all([[TOCSIN, "incident", "no-such-command", "--help"]], tmp_path)
    assert result.returncode != 0 and "No such command" in result.stdout + result.stderr
    [incident] = run_all([[TOCSIN, "incident", "--help"]], tmp_path)
    assert {"declare", "ack", "escalate", "repage", "reassign"} <= listed_commands(incident.stdout)


# -- the README ---------------------------------------------------------------------


def readme_parts() -> tuple[list[str], list[str]]:
    """The ``tocsin ...`` lines of the README's fenced code blocks, and its inline code
    spans that start with ``tocsin `` (whitespace runs made one space, table-escaped
    pipes unescaped)."""
    text = README.read_text(encoding="utf-8")
    fenced = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)
    lines = [
        line.strip()
        for block in fenced
        for line in block.splitlines()
        if line.strip().startswith("tocsin ")
    ]
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    spans = [
        " ".join(span.replace("\\|", "|").split())
        for span in re.findall(r"`([^`]+)`", prose)
        if re.match(r"tocsin\s", span)
    ]
    return lines, spans


#: Run by the virtualenv's Python in a fresh process, like the executable: build what
#: ``main`` builds for this command line, then let each level's parser take its part.
PARSE_ONLY = """
import shlex, sys
import typer
from typer.core import TyperGroup
from typer.exceptions import Exit, TyperException
from tocsin.cli.main import application_for

args = shlex.split(sys.argv[1], comments=True)[1:]
command = typer.main.get_command(application_for(args))
path = ["tocsin"]
try:
    context = command.make_context("tocsin", list(args))
    while isinstance(command, TyperGroup):
        rest = [*context._protected_args, *context.args]
        if not rest:
            sys.exit(f"{' '.join(path)} needs a command")
        name, command, rest = command.resolve_command(context, rest)
        path.append(name)
        context = command.make_context(name, rest, parent=context)
except (TyperException, Exit) as exc:
    sys.exit(f"{type(exc).__name__}: {getattr(exc, 'message', exc)}")
print(" ".join(path))
"""


def parse_only(lines: list[str], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    return run_all([[sys.executable, "-c", PARSE_ONLY, line] for line in lines], cwd)


def test_every_command_line_of_the_readme_parses(tmp_path: Path) -> None:
    """Each ``tocsin ...`` line of a fenced code block (what users copy and run) parses:
    split as a shell would (comments dropped), it resolves, group by group, to a command
    (not a group) of the application the executable builds for that line, in a fresh
    process; and each level's parser accepts its part: no unknown command or option,
    every required argument and option present, every value converted to its type or
    choice, no argument left over. The command itself is not run (nothing is sent and
    nothing written); its placeholders (``INC-1``, ``alice``) are plain values."""
    lines, _ = readme_parts()
    assert len(lines) >= 10, lines
    results = parse_only(lines, tmp_path)
    problems = [
        f"{line}\n  {result.stderr.strip() or result.stdout.strip()}"
        for line, result in zip(lines, results, strict=True)
        if result.returncode != 0
    ]
    assert not problems, "README command lines that do not parse:\n" + "\n".join(problems)


def test_the_readme_check_refuses_what_does_not_parse(tmp_path: Path) -> None:
    bad = [
        "tocsin incident ack",  # missing INCIDENT
        "tocsin incident escalate INC-1 --tier soon",  # not a number
        "tocsin incident declare Outage",  # missing --severity
        "tocsin user list | disable NAME",  # a pipe: "|" is not an argument
        "tocsin incident",  # a group, not a command
        "tocsin incidents list",  # no such command
    ]
    results = parse_only(bad, tmp_path)
    assert [r.returncode != 0 for r in results] == [True] * len(bad), [r.stdout for r in results]
    [good] = parse_only(["tocsin incident reassign INC-1 alice --note 'db01 disk'"], tmp_path)
    assert good.returncode == 0 and good.stdout.strip() == "tocsin incident reassign"


_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
_OPTION = re.compile(r"--[a-z][a-z0-9-]*")


def _options(command: object) -> set[str]:
    names = {o for p in getattr(command, "params", ()) for o in (*p.opts, *p.secondary_opts)}
    for child in getattr(command, "commands", {}).values():
        names |= _options(child)
    return names


def synopsis_problems(span: str, root: object) -> list[str]:
    """What is wrong with an inline synopsis such as ``tocsin incident declare|list|ack
    [--with P]|update`` or ``tocsin alert list --incident INC-n --offset N``.

    Lower-case words right after ``tocsin`` name commands, group by group; ``a|b|c``
    names several commands of one group, and so does ``]|x|y`` after a bracketed option
    (``ack [--with P]|update``). Each named command must exist, and each ``--option``
    must belong to one of the commands named (or to a command under a group named).
    Anything else (``NAME``, ``[SCHEDULE]``, ``30d``, ``...``) is a placeholder or a
    value and is not checked.
    """
    words = span.split()
    node, path = root, ["tocsin"]
    group, named = None, []
    index = 1
    while isinstance(node, TyperGroup) and index < len(words):
        names = words[index].split("|")
        if not all(_NAME.match(name) for name in names):
            break
        unknown = [name for name in names if name not in node.commands]
        if unknown:
            return [f"{span}: {' '.join(path)} has no command {', '.join(unknown)}"]
        index += 1
        group = node
        if len(names) > 1:
            named = [node.commands[name] for name in names]
            break
        node = node.commands[names[0]]
        path.append(names[0])
    named = named or [node]
    problems = []
    for word in words[index:]:
        if group is not None and "]|" in word:
            for name in word.split("]|", 1)[1].split("|"):
                if name not in group.commands:
                    problems.append(f"{span}: {' '.join(path)} has no command {name}")
                else:
                    named.append(group.commands[name])
    known = set().union(*(_options(command) for command in named))
    for option in _OPTION.findall(" ".join(words[index:])):
        if option not in known:
            problems.append(f"{span}: no option {option}")
    return problems


def test_every_command_the_readme_names_exists() -> None:
    """Each inline ``tocsin ...`` span (the command table's synopses, the commands named
    in the text) names commands and options the application has (see
    :func:`synopsis_problems`); the executable having each of them is the first test's."""
    _, spans = readme_parts()
    assert len(spans) >= 20, spans
    root = typer.main.get_command(app)
    problems = [problem for span in spans for problem in synopsis_problems(span, root)]
    assert not problems, "\n".join(problems)
    for wrong, expected in (
        ("tocsin incident declare|list|acknowledge", "has no command acknowledge"),
        ("tocsin incident ack [--with P]|update|bump", "has no command bump"),
        ("tocsin serve [--host H] [--listen 8080]", "no option --listen"),
        ("tocsin incidents list", "has no command incidents"),
    ):
        assert any(expected in p for p in synopsis_problems(wrong, root)), wrong
