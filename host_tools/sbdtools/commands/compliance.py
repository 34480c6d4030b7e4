"""`sbd compliance`: PSTI statement, ETSI EN 303 645 table, SECURITY.md, security.txt."""

from __future__ import annotations

from pathlib import Path

import click

from .. import compliance


@click.command("compliance")
@click.option("--product", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--project", required=True, type=click.Path(exists=True, path_type=Path), help="Audited with `sbd audit`."
)
@click.option(
    "--junit",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="This run's test results (pytest --junitxml).",
)
@click.option("--out", required=True, type=click.Path(file_okay=False, path_type=Path))
def cli(product: Path, project: Path, junit: Path, out: Path) -> None:
    """Write the UK PSTI statement of compliance, the ETSI EN 303 645
    provisions table, SECURITY.md and security.txt (RFC 9116) to OUT, from the
    product file, an audit of the project and this run's test results.
    Refuses, writing nothing, when a fact is missing, a test named as evidence
    did not pass or the audit finds a blocking issue (docs/audit.md).
    """
    docs = compliance.generate(compliance.load_product(product), project, junit)
    for p in compliance.write(docs, out):
        click.echo(p)
