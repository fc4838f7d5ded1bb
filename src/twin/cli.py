"""Command line: `twin ingest`, `twin serve`, `twin demo`, `twin layers ...` (and, in twin.cli_cities, `twin
init`, `twin profile check`, `twin build`, `twin viewer export`).

Only this module prints and chooses exit codes; everything it calls raises TwinError subclasses.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from twin.errors import PublishError, TwinError
from twin.lean import pyarrow_without_pandas

app = typer.Typer(
    add_completion=False, no_args_is_help=True, help="twin: open 3D digital twin for municipalities"
)
layers_app = typer.Typer(no_args_is_help=True, help="List, show and delete layers.")
app.add_typer(layers_app, name="layers")
err = Console(stderr=True)
out = Console()

# Set by a successful `twin ingest`: the console script may then skip the interpreter's teardown.
_QUICK_EXIT = False
REPO_ROOT = Path(__file__).resolve().parents[2]
DEMO_CITY = REPO_ROOT / "profiles" / "halle"
"""The city folder `twin demo` builds and serves (its layer is the sample city in data/samples)."""


def _settings() -> Any:
    from twin.settings import Settings

    return Settings()


def _city_settings() -> Any:
    """The settings of commands that work on one catalog: the city folder's when TWIN_CITY_DIR is set."""
    from twin.cities import effective_settings

    return effective_settings(_settings())


def _batch_process() -> None:
    """Tune this process for one large batch job (the CLI only; as a library twin changes nothing).

    No cyclic garbage collection (the ingest makes no reference cycles worth collecting, and the
    collector kept walking its hundreds of thousands of objects), one OpenBLAS thread (numpy's BLAS threads
    otherwise spin next to the ingest's own workers), no search for pydantic plugins, pyarrow without
    pandas, and freed memory kept.
    """
    gc.disable()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # pydantic looks for plugins among all installed distributions' entry points (18 ms); twin has none.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    pyarrow_without_pandas()
    _keep_freed_memory()


def _keep_freed_memory() -> None:
    """Ask glibc to keep freed memory for reuse instead of returning it to the system at once.

    The ingest allocates and frees arrays of tens of megabytes by the hundred; glibc serves each from
    fresh pages (mmap) and gives them back on free, so every array pays its page faults again. Keeping
    them (larger mmap and trim thresholds, see mallopt(3)) made the numpy stages 2x faster here; the
    cost is that the process keeps its peak memory until it exits. No-op where glibc is absent.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def _fail(exc: TwinError) -> None:
    err.print(f"[bold red]error:[/] {exc.message}", highlight=False, soft_wrap=True)
    raise typer.Exit(exc.exit_code)


@app.command()
def ingest(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="source files, folders, quoted glob patterns or zip archives: footprints (GeoJSON, GeoPackage, "
            "Shapefile, GeoParquet, FlatGeobuf) or city models (CityGML 1.0-3.0, CityJSON, CityJSONSeq)"
        ),
    ],
    layer: Annotated[str, typer.Option("--layer", help="layer id (lower-case letters, digits, - and _)")],
    title: Annotated[str | None, typer.Option(help="layer title shown in the viewer")] = None,
    crs: Annotated[
        str | None, typer.Option(help="source CRS, overrides the file's (e.g. EPSG:25832)")
    ] = None,
    heights: Annotated[str, typer.Option(help="auto | ground | source: where building bases stand")] = "auto",
    vertical_crs: Annotated[
        str | None,
        typer.Option(help="vertical CRS of z values (e.g. EPSG:7837 for DHHN2016, or 'ellipsoidal')"),
    ] = None,
    height_attr: Annotated[
        str | None, typer.Option(help="attribute with the building height in metres")
    ] = None,
    storeys_attr: Annotated[str | None, typer.Option(help="attribute with the number of storeys")] = None,
    storey_height: Annotated[float, typer.Option(help="metres per storey for the storeys rule")] = 3.0,
    default_height: Annotated[float, typer.Option(help="height in metres when no rule applies")] = 10.0,
    id_attr: Annotated[str | None, typer.Option(help="attribute with the source id of each building")] = None,
    source_layer: Annotated[
        str | None, typer.Option(help="layer to read from a multi-layer file (GeoPackage, zip)")
    ] = None,
    group: Annotated[str, typer.Option(help="place in the viewer's layer tree, e.g. 'Gebäude'")] = "",
    attribution: Annotated[str, typer.Option(help="attribution shown with the layer")] = "",
    licence: Annotated[str, typer.Option(help="licence of the data, e.g. dl-de/by-2-0")] = "",
    lod: Annotated[
        str | None,
        typer.Option(
            help="level of detail of city models, e.g. 2 or 2.2 (default: the highest every building has)"
        ),
    ] = None,
    compression: Annotated[
        str, typer.Option(help="meshopt (smallest; CesiumJS reads it) or none (plain glTF for any client)")
    ] = "meshopt",
    report: Annotated[Path | None, typer.Option(help="also write the ingest report to this file")] = None,
    kind: Annotated[
        str,
        typer.Option(help="buildings, or planning: areas of a plan as a features layer (XPlanGML is always)"),
    ] = "buildings",
    metadata: Annotated[
        Path | None,
        typer.Option(help="planning metadata (JSON/TOML: status, number, dates, office, documents, colors)"),
    ] = None,
) -> None:
    """Turn building footprints or 3D city models into a published 3D Tiles layer."""
    if heights not in ("auto", "ground", "source"):
        err.print("[bold red]error:[/] --heights must be auto, ground or source")
        raise typer.Exit(2)
    if kind not in ("buildings", "planning"):
        err.print("[bold red]error:[/] --kind must be buildings or planning")
        raise typer.Exit(2)
    if compression not in ("meshopt", "none"):
        err.print("[bold red]error:[/] --compression must be meshopt or none")
        raise typer.Exit(2)
    _batch_process()
    from twin.ingest import prefetch
    from twin.registrar import Registrar, large_input

    # The catalog's helper process and the reading of the input start first, so that they overlap the
    # imports below.
    registrar = Registrar() if large_input(list(sources)) else None
    prefetch.start(list(sources))
    from twin.ingest.city_reader import CityOptions
    from twin.ingest.footprints import FootprintOptions
    from twin.pipeline import IngestOptions
    from twin.pipeline import ingest as run_ingest

    options = IngestOptions(
        layer_id=layer,
        title=title,
        footprints=FootprintOptions(
            crs=crs, height_attr=height_attr, storeys_attr=storeys_attr, storey_height=storey_height,
            default_height=default_height, id_attr=id_attr, source_layer=source_layer,
        ),
        city=CityOptions(crs=crs, lod=lod),
        heights=heights,  # type: ignore[arg-type]
        vertical_crs=vertical_crs,
        compression=compression,  # type: ignore[arg-type]
        group=group,
        attribution=attribution,
        licence=licence,
        kind=kind,  # type: ignore[arg-type]
        metadata=metadata,
    )  # fmt: skip
    try:
        settings = _city_settings()
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err, transient=True, disable=not err.is_terminal,
        ) as bar:  # fmt: skip
            tasks: dict[str, Any] = {}

            def progress(stage: str, done: int, total: int) -> None:
                if stage not in tasks:
                    tasks[stage] = bar.add_task(stage, total=total)
                bar.update(tasks[stage], completed=done, total=total)

            result = run_ingest(list(sources), options, settings, progress, registrar)
    except TwinError as exc:
        _fail(exc)
        return
    if report:
        report.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    skipped = sum(result["skipped"].values())
    written = (
        f"{result['features_written']} plan objects"
        if result.get("kind") == "features"
        else f"{result['features_written']} buildings in {result['tiles']} tiles "
        f"({result['tile_bytes_total'] / 1e6:.1f} MB)"
    )
    out.print(
        f"layer [bold]{result['layer']}[/]: {written} from {result['features_read']} features, "
        f"{skipped} skipped, in {result['duration_s']:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
    for reason, count in result["skipped"].items():
        out.print(f"  skipped {count}: {reason}", highlight=False)
    for rule, count in result["height_rules"].items():
        out.print(f"  height from {rule}: {count}", highlight=False)
    for note in result.get("notes", []):
        out.print(f"  {note}", highlight=False, soft_wrap=True)
    for warning in result["warnings"]:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
    out.print(f"  report: {settings.layers_dir / result['layer'] / 'report.json'}", highlight=False)
    global _QUICK_EXIT
    _QUICK_EXIT = True


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int | None, typer.Option(min=1, help="worker processes (default: the number of CPUs)")
    ] = None,
    city: Annotated[
        Path | None, typer.Option(help="serve this city folder at / (default: TWIN_CITY_DIR)")
    ] = None,
    cities: Annotated[
        Path | None,
        typer.Option(help="serve every city folder in this folder under /<city>/ (default: TWIN_CITIES_DIR)"),
    ] = None,
) -> None:
    """Serve the API, the tiles and the viewer (several worker processes; tiles on a fast path)."""
    try:
        settings = _settings()
        if city is not None:
            settings = settings.model_copy(update={"city_dir": city.resolve(), "cities_dir": None})
        if cities is not None:
            settings = settings.model_copy(update={"cities_dir": cities.resolve(), "city_dir": None})
        from twin.api.app import run_server

        run_server(settings, host=host, port=port, workers=workers)
    except TwinError as exc:
        _fail(exc)


@app.command()
def demo(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
) -> None:
    """Build the sample city (profiles/halle, once; again when its sources change) and serve it with the viewer."""
    from twin.build import build_city
    from twin.cities import CityFolder

    city = CityFolder("halle", DEMO_CITY)
    if "TWIN_PROFILE" not in os.environ:
        os.environ["TWIN_PROFILE"] = str(city.profile)
    try:
        settings = _settings()
        out.print(f"building the sample city ({city.profile}) …")
        for outcome in build_city(city, settings):
            if outcome.status == "failed":
                raise PublishError(f"layer {outcome.id}: {outcome.message}")
            out.print(f"  {outcome.id}: {outcome.status}, {outcome.features} buildings", highlight=False)
        out.print(f"viewer: http://{host}:{port}/")
        from twin.api.app import run_server

        run_server(settings, host=host, port=port)
    except TwinError as exc:
        _fail(exc)


@layers_app.command("list")
def layers_list() -> None:
    """List the layers in the catalog."""
    from twin.catalog import Catalog

    try:
        catalog = Catalog(_city_settings().catalog_url)
        for record in catalog.list():
            out.print(f"{record.id}\t{record.kind}\t{record.feature_count}\t{record.title}", highlight=False)
    except TwinError as exc:
        _fail(exc)


@layers_app.command("show")
def layers_show(layer_id: Annotated[str, typer.Argument(help="layer id")]) -> None:
    """Show one layer's metadata as JSON."""
    from twin.catalog import Catalog

    try:
        record = Catalog(_city_settings().catalog_url).get(layer_id)
        out.print_json(record.model_dump_json())
    except TwinError as exc:
        _fail(exc)


@layers_app.command("delete")
def layers_delete(layer_id: Annotated[str, typer.Argument(help="layer id")]) -> None:
    """Delete a layer: its catalog entry and its published files."""
    from twin.catalog import Catalog
    from twin.tiles.publish import unpublish

    try:
        settings = _city_settings()
        Catalog(settings.catalog_url).delete(layer_id)
        unpublish(settings.data_dir, layer_id)
        out.print(f"deleted layer {layer_id}")
    except TwinError as exc:
        _fail(exc)


import twin.cli_cities  # noqa: E402, F401  (registers its commands on `app`)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except TwinError as exc:  # settings errors raised outside a command
        err.print(f"error: {exc.message}")
        sys.exit(exc.exit_code)
    except SystemExit as exc:
        if _QUICK_EXIT:
            # A finished ingest has written, closed and published everything; the interpreter's teardown
            # of its large heap and many modules would only add a tenth of a second.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code if isinstance(exc.code, int) else 0)
        raise


if __name__ == "__main__":
    # `python -m twin.cli`: run the module proper (twin.cli), whose app twin.cli_cities added its commands to.
    from twin.cli import main as _main

    _main()
