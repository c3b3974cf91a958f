"""What the command line says about itself: each subcommand's description and examples, the
arguments the parser leaves unexplained, the exit codes, ``-o json`` on every command, and
shell completion. Laid over the parser once it is built (``explain``), so the parser
reads as the list of commands and their arguments, and this file as their manual."""

from __future__ import annotations

import argparse
import shlex
import textwrap
from typing import Any

from sluice.terminal import project_command

# Exit codes, distinct so a script can tell what happened.
EXIT_OK = 0
EXIT_FAILURE = 1  # the command failed or was refused (a decision refused, a check failed)
EXIT_INPUT = 2  # bad input: a flag, an input file, a path, a value
EXIT_UNREACHABLE = 3  # the Temporal service could not be reached
EXIT_RUN_FAILED = 4  # start --wait: the run failed
EXIT_WAITING = 5  # start --wait: the run waits for a person (a decision, a document)

EXIT_CODES = f"""exit codes:
  {EXIT_OK}  done
  {EXIT_FAILURE}  failed or refused (a decision refused, a signature check failed, configuration)
  {EXIT_INPUT}  bad input (a flag, an input file or a path that cannot be used)
  {EXIT_UNREACHABLE}  the Temporal service cannot be reached
  {EXIT_RUN_FAILED}  start --wait: the run failed
  {EXIT_WAITING}  start --wait: the run waits for a person (the command to answer is printed)"""

# Per subcommand: what it does, and example lines (after the command's own name).
MANUAL: dict[str, tuple[str, list[str]]] = {
    "start": (
        "Validate an input file against the process's input model, check every document it "
        "names, and start a run. With --wait, follow it: the steps as they happen, then the "
        f"outcome; at a human gate it prints the command that answers and exits {EXIT_WAITING}.",
        [
            "start cargo-release examples/cargo_release/anomaly.json --wait",
            "start kyc-review examples/kyc_review/low_risk.json --id kyc-0440 -o json",
        ],
    ),
    "approve": (
        "Approve the decision a run waits for, signed with your own key (see `reviewers`). "
        "Refused, with the reason, when you may not decide it.",
        [
            'approve demo-cargo-release-anomaly --reviewer alice --comment "short shipment '
            'confirmed"',
            "approve demo-support-triage-refund --reviewer bob --amount 40 "
            "--final-text-file reply.txt",
        ],
    ),
    "reject": (
        "Reject the decision a run waits for, with a reason for the record.",
        ["reject demo-cargo-release-anomaly --reviewer bob --reason 'weights do not add up'"],
    ),
    "provide": (
        "Send a missing document (or other awaited input) to the run waiting for it; the "
        "file is JSON, as the run's status describes it.",
        [
            "provide demo-kyc-review-missing_proof_of_address "
            "examples/kyc_review/provide/missing_proof_of_address.json",
        ],
    ),
    "pending": (
        "List the runs waiting for a decision: what, since when, at which risk.",
        ["pending", "pending -o json"],
    ),
    "refresh-policy": (
        "Make running runs re-read their approval policy from the configuration, e.g. after "
        "revoking a reviewer.",
        ["refresh-policy", "refresh-policy --domain kyc_review -o json"],
    ),
    "status": (
        "Where a run is: its steps, what it waits for, its outcome.",
        ["status demo-cargo-release-anomaly", "status demo-cargo-release-anomaly -o json"],
    ),
    "audit": (
        "A run's audit trail: who decided what, on which evidence, with which model and rule; "
        "--verify re-checks every decision's signature.",
        ["audit demo-cargo-release-anomaly --verify", "audit demo-kyc-review-high_risk -o json"],
    ),
    "trace": (
        "A run's steps, model calls and waits as a tree, from the local span file (or from "
        "its history, with timings only).",
        ["trace demo-cargo-release-anomaly", "trace demo-cargo-release-anomaly -o json"],
    ),
    "sign": (
        "Print a signed approve or reject signal payload, to send with the plain temporal CLI.",
        ["sign approve demo-cargo-release-anomaly --reviewer alice > decision.json"],
    ),
    "init": (
        "Write sluice.toml, with the sample reviewers and approval policies, and the sample "
        "KYC documents (intake/) into the current folder; nothing is overwritten.",
        ["init"],
    ),
    "completion": (
        "Print a shell completion script for bash or zsh.",
        ["completion bash > ~/.local/share/bash-completion/completions/sluice", "completion zsh"],
    ),
    "reviewers": (
        "Reviewers and their keys (python -m sluice.reviewers); --help lists its commands.",
        ["reviewers --help"],
    ),
}

# Arguments the parser declares without a help text, by destination.
ARGUMENTS = {
    "workflow_id": "the run's workflow id (as `pending` and the sample runs show it)",
    "process": "which process the input is for",
    "file": "the input file (JSON)",
    "reviewer": "who decides: your name as the reviewer registry knows it",
    "comment": "a comment for the record",
    "reason": "why, for the record (required)",
    "json": "the same as -o json",
    "rest": "the reviewers command and its arguments",
    "shell": "bash or zsh",
    "verdict": "approve or reject",
}


def explain(root: argparse.ArgumentParser) -> None:
    """Give every subcommand its description, examples, exit codes and ``-o``; and every
    argument without one its help text."""
    command = project_command("starter.py")
    root.epilog = EXIT_CODES
    root.formatter_class = argparse.RawDescriptionHelpFormatter
    for name, sub in subcommands(root).items():
        description, examples = MANUAL[name]
        sub.description = textwrap.fill(description, 88)
        sub.formatter_class = argparse.RawDescriptionHelpFormatter
        sub.epilog = "examples:\n" + "\n".join(f"  {command} {line}" for line in examples)
        if name not in ("reviewers", "completion", "init"):
            sub.epilog += "\n\n" + EXIT_CODES
        _explain_arguments(sub)
        if name not in ("reviewers", "sign"):
            _output_flag(sub)
        for nested in subcommands(sub).values():
            _explain_arguments(nested)


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """A parser's subcommands by name (none: empty)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if action.help is None and action.dest in ARGUMENTS:
            action.help = ARGUMENTS[action.dest]


def _output_flag(parser: argparse.ArgumentParser) -> None:
    """``-o text|json`` as the temporal CLI spells it; ``--json`` stays, as its alias."""
    parser.add_argument(
        "-o",
        "--output",
        choices=("text", "json"),
        default="text",
        help="text for people (default), json for scripts",
    )
    if not any("--json" in action.option_strings for action in parser._actions):
        parser.add_argument("--json", action="store_true", help=ARGUMENTS["json"])


def wants_json(args: argparse.Namespace) -> bool:
    """Whether the command's answer is asked for as JSON (``-o json`` or ``--json``)."""
    return bool(getattr(args, "json", False)) or getattr(args, "output", "text") == "json"


def completion_script(root: argparse.ArgumentParser, shell: str, command: str) -> str:
    """A completion script for ``command``: subcommands, then each one's flags and choices,
    and file names where a file is expected. zsh runs the bash one through bashcompinit."""
    cases = []
    for name, sub in subcommands(root).items():
        words = sorted({o for a in sub._actions for o in a.option_strings} | _choices(sub))
        cases.append(f"    {shlex.quote(name)}) words={shlex.quote(' '.join(words))} ;;")
    top = sorted(set(subcommands(root)) | {o for a in root._actions for o in a.option_strings})
    function = "_" + "".join(c if c.isalnum() else "_" for c in command.rsplit("/", 1)[-1])
    script = f"""{function}() {{
  local cur=${{COMP_WORDS[COMP_CWORD]}} sub="" word words
  for word in "${{COMP_WORDS[@]:1:COMP_CWORD-1}}"; do
    case "$word" in -*) ;; *) sub=$word; break ;; esac
  done
  case "$sub" in
{chr(10).join(cases)}
    *) words={shlex.quote(" ".join(top))} ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
  if [[ -n $sub && $cur != -* ]]; then COMPREPLY+=($(compgen -f -- "$cur")); fi
}}
complete -o filenames -F {function} {command}
"""
    if shell == "zsh":
        return "autoload -U +X bashcompinit && bashcompinit\n" + script
    return script


def _choices(parser: argparse.ArgumentParser) -> set[str]:
    found: set[str] = set()
    for action in parser._actions:
        if (
            not action.option_strings
            and action.choices
            and not isinstance(action, argparse._SubParsersAction)
        ):
            found.update(str(choice) for choice in action.choices)
    return found


def add_completion_parser(commands: Any) -> None:
    """``completion bash|zsh``."""
    completion = commands.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh"))
