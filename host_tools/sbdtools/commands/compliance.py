"""`sbd compliance`: PSTI statement, ETSI EN 303 645 table, SECURITY.md, security.txt, SBOM, PDF."""

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
@click.option(
    "--app",
    type=click.Path(exists=True, path_type=Path),
    help="For the SBOM: a device image (.img/.bin/.uf2: the files on its filesystem) or the app "
    "folder the image is built from (default: --project).",
)
@click.option("--sbom/--no-sbom", default=True, show_default=True, help="Write sbom.cdx.json (CycloneDX 1.6).")
@click.option("--pdf/--no-pdf", default=True, show_default=True, help="Write the statement and the table as a PDF too.")
def cli(product: Path, project: Path, junit: Path, out: Path, app: Path | None, sbom: bool, pdf: bool) -> None:
    """Write the UK PSTI statement of compliance, the ETSI EN 303 645
    provisions table (every provision of clauses 5 and 6), SECURITY.md,
    security.txt (RFC 9116), a CycloneDX SBOM of the device image and a PDF
    of the statement and table to OUT, from the product file, an audit of the
    project and this run's test results.  Refuses, writing nothing, when a
    fact is missing, a test named as evidence did not pass or the audit finds
    a blocking issue (docs/audit.md).
    """
    prod = compliance.load_product(product)
    docs = compliance.generate(prod, project, junit)
    bom = compliance.sbom(prod, app or project) if sbom else None
    for p in compliance.write(docs, out, sbom_json=bom, with_pdf=pdf):
        click.echo(p)
