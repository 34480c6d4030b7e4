"""`sbd audit PATH`: scan a MicroPython project for security problems."""

from __future__ import annotations

import json
from pathlib import Path

import click

from .. import audit as audit_mod
from ..audit import report as fmt


@click.command("audit")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="Report format (SARIF 2.1.0 for code scanning in CI).",
)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), help="Write the report here.")
@click.option(
    "--fail-on",
    type=click.Choice(["note", "warning", "error", "never"]),
    default="warning",
    show_default=True,
    help="Exit 1 when a finding is at or above this severity.",
)
@click.option("--max-file-mb", type=click.IntRange(1, 1024), default=None, help="Largest image file to read (MiB).")
@click.option("--rules", "list_rules", is_flag=True, help="List the rules and exit.")
@click.pass_context
def cli(
    ctx: click.Context,
    path: Path,
    out_format: str,
    output: Path | None,
    fail_on: str,
    max_file_mb: int | None,
    list_rules: bool,
) -> None:
    """Audit PATH (a project folder, a .py/.mpy file, a littlefs image or a
    per-device .bin/.uf2) for hard-coded credentials, default passwords, an open
    REPL, unverified TLS, eval/exec on input, secrets in logs, unsigned updates
    and a missing factory record check.  Exits 1 on findings at or above
    --fail-on.  Suppress one finding with a reason:
    `# sbd-audit: ignore SBD001 why this is safe` (docs/audit.md).
    """
    if list_rules:
        for r in audit_mod.RULES.values():
            click.echo(f"{r.id} {r.name} [{r.severity}]: {r.summary}")
        return
    limits = audit_mod.Limits()
    if max_file_mb is not None:
        limits = audit_mod.Limits(max_image_bytes=max_file_mb << 20)
    rep = audit_mod.audit(path, limits=limits)
    if out_format == "json":
        text = fmt.to_json(rep)
    elif out_format == "sarif":
        text = json.dumps(fmt.to_sarif(rep), indent=2) + "\n"
    else:
        text = fmt.to_text(rep)
    if output:
        output.write_text(text)
    else:
        click.echo(text, nl=False)
    if rep.fails(fail_on):
        ctx.exit(1)
