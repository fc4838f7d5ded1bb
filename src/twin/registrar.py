"""The last step of an ingest, publish + register in the catalog, as one all-or-nothing operation.

`register` does it in the calling process. `Registrar` does the same in a helper process started when a
large ingest begins: the helper imports SQLAlchemy, alembic and pydantic and opens (and if need be
migrates) the catalog while the ingest reads and repairs its input on the other core, so that half a
second of CPU (measured: 0.42 s of imports, 0.16 s to open a new catalog) is off the critical path. The
helper is a fresh interpreter (`python -m twin.registrar`: never a fork of a process that may run threads,
and unlike multiprocessing's spawn it does not re-import the caller's main script); it reads the settings
and one request from its stdin and answers on its stdout, both pickled. It publishes only when asked: if
the ingest dies, the helper sees its stdin close and exits without touching anything.
"""

from __future__ import annotations

import importlib
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from twin.errors import PublishError, TwinError

if TYPE_CHECKING:  # imported where used: the CLI starts a Registrar before it imports anything heavy
    from twin.settings import Settings

# Inputs this large take over a second to ingest: time enough for the helper to get ready.
REGISTRAR_MIN_BYTES = 4 << 20


def large_input(paths: list[Path]) -> bool:
    """Whether an ingest of these files is worth a Registrar."""
    return sum(path.stat().st_size for path in paths if path.is_file()) >= REGISTRAR_MIN_BYTES


def register(
    catalog: Any,
    settings: Settings,
    staging: Path,
    layer_id: str,
    fields: dict[str, Any],
    report: dict[str, Any],
    bbox: list[float] | None,
    kind: Literal["3dtiles", "features"] = "3dtiles",
    planning: Any = None,
    extra_fields: dict[str, Any] | None = None,
) -> None:
    """Publish the staging folder and register the layer in one step: both happen or neither.

    `fields` are the ingest's title, group, attribution and licence (empty: keep what the catalog has).
    A layer of `kind` "features" (planning objects for the OGC API, no tiles) has no tileset; `planning` (a
    PlanningInfo) replaces the catalog's, and `extra_fields` are merged into its `extra`.
    """
    from twin.catalog import LayerRecord
    from twin.tiles import publish as publishing

    previous = publishing.current_version(settings.data_dir, layer_id)
    try:
        existing = catalog.get(layer_id)
    except TwinError:
        existing = None
    # A re-ingest replaces what the data determines and keeps what people curated (planning metadata,
    # links, style, visibility, extra keys of their own).
    extra = dict(existing.extra) if existing else {}
    extra.update(
        report=f"/tiles/{layer_id}/report.json",
        properties=report.get("properties", []),
        ground_height=float(report.get("ground_height", 0.0)),
        **(extra_fields or {}),
    )
    if kind == "3dtiles":
        extra["tileset"] = f"/tiles/{layer_id}/tileset.json"
    else:
        extra.pop("tileset", None)
    record = LayerRecord(
        id=layer_id,
        title=fields.get("title") or (existing.title if existing else layer_id),
        description=existing.description if existing else "",
        kind=kind,
        group=fields.get("group") or (existing.group if existing else ""),
        attribution=fields.get("attribution") or (existing.attribution if existing else ""),
        licence=fields.get("licence") or (existing.licence if existing else ""),
        bbox=bbox,
        feature_count=int(report["features_written"]),
        source=", ".join(Path(s).name for s in report["sources"]),
        visible=existing.visible if existing else True,
        opacity=existing.opacity if existing else 1.0,
        style=existing.style if existing else None,
        planning=planning if planning is not None else (existing.planning if existing else None),
        url=existing.url if existing else None,
        extra=extra,
    )
    with catalog.session() as session:
        catalog.upsert(record, session)
        try:
            publishing.publish(staging, settings.data_dir, layer_id)
        except BaseException:
            publishing.restore(settings.data_dir, layer_id, previous)
            raise


def open_catalog(settings: Settings) -> Any:
    """The catalog (opened, migrated to the newest schema)."""
    from twin.catalog import Catalog

    return Catalog(settings.catalog_url)


def _serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """Helper process: open the catalog, then carry out one registration request."""
    try:
        settings = pickle.load(requests)
    except EOFError:
        return
    catalog: Any = None
    if settings is None:  # the CLI's case: settings from the environment, as the ingest reads them
        from twin.settings import Settings

        settings = Settings()
    failure: BaseException | None = None
    try:
        catalog = open_catalog(settings)
    except BaseException as exc:  # reported when the request comes, where the ingest can raise it
        failure = exc
    try:
        request = pickle.load(requests)
    except EOFError:  # the ingest is gone: publish nothing
        return
    try:
        if failure is not None:
            raise failure
        register(catalog, settings, *request)
        answer: tuple[str, Any] = ("ok", None)
    except BaseException as exc:
        kind = type(exc)
        answer = ("error", (kind.__module__, kind.__qualname__, str(exc)))
    pickle.dump(answer, answers)
    answers.flush()
    if catalog is not None:
        catalog.engine.dispose()


class Registrar:
    """`register` in a helper process that prepares the catalog while the ingest runs."""

    def __init__(self, settings: Settings | None = None) -> None:
        """Start the helper; without `settings` it reads them from the environment (TWIN_*)."""
        self._process = subprocess.Popen(
            [sys.executable, "-m", "twin.registrar"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self._process.stdin is not None
        pickle.dump(settings, self._process.stdin)
        self._process.stdin.flush()

    def register(
        self,
        staging: Path,
        layer_id: str,
        fields: dict[str, Any],
        report: dict[str, Any],
        bbox: list[float] | None,
    ) -> None:
        """Publish and register (see `register`); errors of the helper are raised here."""
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        try:
            pickle.dump((staging, layer_id, fields, report, bbox), process.stdin)
            process.stdin.flush()
            status, payload = pickle.load(process.stdout)
        except (EOFError, OSError, pickle.UnpicklingError) as exc:
            raise PublishError(
                f"layer '{layer_id}': the catalog process ended without registering it"
            ) from exc
        finally:
            self.close()
        if status == "ok":
            return
        module, name, message = payload
        raise _rebuild(module, name, message)

    def close(self) -> None:
        """Let the helper go (it publishes nothing unless asked); it exits by itself."""
        process = self._process
        for stream in (process.stdin, process.stdout):
            if stream is not None and not stream.closed:
                stream.close()
        if process.poll() is None:
            # Waited for only if still running after its answer; an abandoned helper exits on stdin EOF.
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def _rebuild(module: str, name: str, message: str) -> BaseException:
    """The helper's exception as the same TwinError class where possible."""
    try:
        kind = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        kind = None
    if isinstance(kind, type) and issubclass(kind, TwinError):
        return kind(message)
    return PublishError(f"registering the layer failed: {name}: {message}")


if __name__ == "__main__":
    _serve(sys.stdin.buffer, sys.stdout.buffer)
    # Done and committed: leave without the interpreter's teardown (0.2 s with SQLAlchemy and pydantic
    # loaded), which the ingest would otherwise wait for.
    sys.stdout.flush()
    os._exit(0)
