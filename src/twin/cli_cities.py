"""Command line for city folders: `twin init`, `twin profile check`, `twin build`, `twin viewer export`.

Registered on twin.cli's app (imported there); like twin.cli, only this module prints and picks exit codes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from twin.cli import _batch_process, _fail, _settings, app, err, out
from twin.errors import TwinError

profile_app = typer.Typer(no_args_is_help=True, help="Check city profiles.")
viewer_app = typer.Typer(no_args_is_help=True, help="The static viewer.")
app.add_typer(profile_app, name="profile")
app.add_typer(viewer_app, name="viewer")


@app.command()
def init(
    folder: Annotated[
        Path, typer.Argument(help="the new city folder; its name is the city id, e.g. magdeburg")
    ],
    name: Annotated[str | None, typer.Option(help="the city's name as the viewer shows it")] = None,
    source: Annotated[
        Path | None,
        typer.Option(help="the buildings' source file (footprints or city model) for the first layer"),
    ] = None,
    primary: Annotated[str, typer.Option(help="the viewer's main colour, #rrggbb")] = "#00598a",
    attribution: Annotated[str, typer.Option(help="attribution of the city's data")] = "",
    licence: Annotated[str, typer.Option(help="licence of the city's data, e.g. dl-de/by-2-0")] = "",
) -> None:
    """Make a city folder: a documented profile.toml, a sources/ folder and an admin token."""
    from twin.profile.scaffold import init_city

    try:
        made = init_city(
            folder, name=name, source=source, primary=primary, attribution=attribution, licence=licence
        )
    except TwinError as exc:
        _fail(exc)
        return
    root = made.city.root
    out.print(f"city [bold]{made.city.id}[/] in {root}", highlight=False)
    out.print(f"  {root / 'profile.toml'}  the profile: edit this file", highlight=False)
    out.print(f"  {root / 'sources'}/  put the source files here", highlight=False)
    out.print(f"  {root / 'admin-token'}  the city's admin token (keep it secret)", highlight=False)
    out.print("next:", highlight=False)
    out.print(f"  twin profile check {folder}", highlight=False)
    out.print(f"  twin build {folder}", highlight=False)
    out.print(f"  twin serve --city {folder}", highlight=False)


@profile_app.command("check")
def profile_check(
    profiles: Annotated[list[Path], typer.Argument(help="city folders or profile files (.toml)")],
) -> None:
    """Check profiles: every problem with its file, key and what is wrong; exit code 7 if any."""
    from twin.cities import PROFILE_FILE
    from twin.profile.check import check_profile

    failed = False
    for given in profiles:
        path = given / PROFILE_FILE if given.is_dir() else given
        profile, problems = check_profile(path, deep=True)
        for problem in problems:
            where = f"{path}: {problem.key}: " if problem.key else f"{path}: "
            err.print(f"[bold red]error:[/] {where}{problem.message}", highlight=False, soft_wrap=True)
        if problems or profile is None:
            failed = True
            continue
        out.print(
            f"{path}: ok ({len(profile.layers)} layers, {len(profile.basemaps)} base maps)",
            highlight=False,
            soft_wrap=True,
        )
    if failed:
        raise typer.Exit(7)


@app.command()
def build(
    city: Annotated[Path, typer.Argument(help="the city folder (or its profile.toml)")] = Path("."),
    layer: Annotated[
        list[str] | None, typer.Option("--layer", help="build only this layer (may be repeated)")
    ] = None,
    force: Annotated[bool, typer.Option(help="build every layer, changed or not")] = False,
) -> None:
    """Build every layer the city's profile lists; layers whose sources and options did not change are skipped."""
    from twin.build import build_city
    from twin.cities import city_folder

    _batch_process()
    try:
        folder = city_folder(city)
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True, disable=not err.is_terminal,
        ) as bar:  # fmt: skip

            def progress_for(layer_id: str) -> Callable[[str, int, int], None]:
                tasks: dict[str, TaskID] = {}

                def progress(stage: str, done: int, total: int) -> None:
                    if stage not in tasks:
                        tasks[stage] = bar.add_task(f"{layer_id}: {stage}", total=total)
                    bar.update(tasks[stage], completed=done, total=total)

                return progress

            outcomes = build_city(
                folder, folder.settings(_settings()), force=force, only=layer, progress_for=progress_for
            )
    except TwinError as exc:
        _fail(exc)
        return
    table = Table(title=f"twin build {folder.id}", title_justify="left")
    for column in ("layer", "result", "buildings", "seconds", "note"):
        table.add_column(column, justify="right" if column in ("buildings", "seconds") else "left")
    labels = {
        "built": "built",
        "unchanged": "unchanged",
        "metadata": "catalog updated",
        "failed": "[red]failed[/]",
    }
    for outcome in outcomes:
        table.add_row(
            outcome.id, labels[outcome.status],
            "" if outcome.features is None else f"{outcome.features:,}", f"{outcome.seconds:.1f}", outcome.message,
        )  # fmt: skip
    out.print(table)
    failed = [outcome for outcome in outcomes if outcome.status == "failed"]
    for outcome in failed:
        err.print(
            f"[bold red]error:[/] layer {outcome.id}: {outcome.message}", highlight=False, soft_wrap=True
        )
    if failed:
        raise typer.Exit(1)


@viewer_app.command("export")
def viewer_export(
    dest: Annotated[Path, typer.Argument(help="an empty or new folder for the static viewer")],
    api: Annotated[
        str, typer.Option(help="the twin API the viewer talks to, e.g. https://twin.example.org/magdeburg/")
    ],
) -> None:
    """Write the viewer as static files for any web host, pointed at a twin API (which must allow its origin)."""
    from twin.api.viewer import web_dir
    from twin.viewer_export import export_viewer

    try:
        files = export_viewer(web_dir(_settings()), dest, api)
    except TwinError as exc:
        _fail(exc)
        return
    out.print(f"viewer: {files} files in {dest}, talking to {api}", highlight=False)
    out.print(
        "  the API must allow the viewer's origin: TWIN_CORS_ORIGINS=https://your-viewer-host",
        highlight=False,
    )
