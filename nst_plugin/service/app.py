"""The FastAPI app of `nst serve` and its /v1 routes (docs/SERVICE.md describes each).

`create_app(config)` builds it around one `JobTable` and one `StyleLibrary`; `RequestChecks`
checks every request first, and `NoteActivity` (outside it) notes each one on the idle clock of
`nst serve --idle-exit` (`app.state.activity`). Routes read their forms themselves, so every
mistake in a request is a 400 with one sentence (`{"error": ...}`), never FastAPI's validation
format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from .. import __version__, engines
from ..errors import UserError, quote
from ..jobs import DONE, QUEUED
from ..options import PRESETS
from .config import ServiceConfig
from .estimates import query_options
from .events import EventStream
from .jobtable import JobTable, ServiceJob, TableFull
from .security import ApiError, Receive, RequestChecks, Scope, Send, sentence
from .styles import StyleExists, StyleLibrary
from .uploads import job_from_form, parse_options, read_form, text_field

log = logging.getLogger("nst_plugin.service")


def error(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"error": sentence(message)},
        status_code=status,
        headers={"Cache-Control": "no-store", **headers},
    )


def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 404:
        message = (
            f"there is no {quote(request.method)} {quote(request.url.path)} in the nst "
            "service's API"
        )
    elif exc.status_code == 405:
        message = f"{quote(request.method)} is not allowed on {quote(request.url.path)}"
    else:
        message = str(exc.detail)
    return error(exc.status_code, message)


class Activity:
    """When the service last saw a request, and how many are open now (an event stream stays
    open while its job runs). Used only in the event loop's thread."""

    def __init__(self) -> None:
        self.open = 0
        self.last = time.monotonic()

    def begin(self) -> None:
        self.open += 1
        self.last = time.monotonic()

    def end(self) -> None:
        self.open -= 1
        self.last = time.monotonic()


class NoteActivity:
    """ASGI middleware outside `RequestChecks`: every HTTP request, refused or not, is noted
    as activity. It only notes the time; what a request may do is decided further in."""

    def __init__(self, app: Any, *, activity: Activity) -> None:
        self.app = app
        self.activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.activity.begin()
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.end()


def _install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, lambda r, e: error(e.status, e.message))
    app.add_exception_handler(StyleExists, lambda r, e: error(409, str(e)))
    app.add_exception_handler(UserError, lambda r, e: error(400, str(e)))
    app.add_exception_handler(
        TableFull, lambda r, e: error(503, str(e), **{"Retry-After": str(e.retry_after)})
    )
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(
        RequestValidationError, lambda r, e: error(400, "the request is malformed")
    )


def create_app(config: ServiceConfig, table: JobTable | None = None) -> FastAPI:
    """The app, with its job table in `app.state.table`. Needs `config.port` bound."""
    table = table or JobTable(config)
    library = StyleLibrary(config.styles_dir, max_pixels=config.max_pixels)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        table.attach(asyncio.get_running_loop())
        yield
        table.stop()

    app = FastAPI(
        title="nst-plugin",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.table = table
    app.state.library = library
    app.state.activity = Activity()
    _install_error_handlers(app)
    app.add_middleware(
        RequestChecks,
        token=config.token,
        allowed_hosts=config.allowed_hosts(),
        max_body=config.max_body,
        log_file=str(config.log_file),
    )
    app.add_middleware(NoteActivity, activity=app.state.activity)  # added last: outermost
    _add_service_routes(app, config, table)
    _add_style_routes(app, library)
    _add_job_routes(app, config, table, library)
    _add_one_job_routes(app, config, table)
    return app


def _add_service_routes(app: FastAPI, config: ServiceConfig, table: JobTable) -> None:
    """/v1/health, /v1/status, /v1/engines and /v1/estimate: what the service is, what it runs
    and how long that takes here."""

    @app.get("/v1/health")
    async def health():
        return {"ok": True, "version": __version__}

    @app.get("/v1/status")
    async def status():
        active = table.active()
        running = [j.status() for j in active if j.state != "queued"]
        return {
            "version": __version__,
            "pid": os.getpid(),
            "url": config.url,
            "log": str(config.log_file),
            "state": "busy" if active else "idle",
            "running": running[0] if running else None,
            "queued": sum(1 for j in active if j.state == "queued"),
            "idle_exit": config.idle_exit,
        }

    @app.get("/v1/engines")
    async def list_engines():
        found = engines.installed()
        default = (
            engines.DEFAULT_ENGINE if engines.DEFAULT_ENGINE in found else next(iter(found), None)
        )
        described = await run_in_threadpool(lambda: [e.info() for e in found.values()])
        return {"default": default, "engines": described, "presets": PRESETS}

    @app.get("/v1/estimate")
    async def estimate(request: Request):
        text, width, height = query_options(request.query_params, config.max_pixels)
        settings, engine = parse_options(text, config.weights)
        seconds, based_on = await run_in_threadpool(table.estimate, engine, settings, width, height)
        return {
            "seconds": None if seconds is None else round(seconds, 2),
            "based_on": based_on,
            "engine": engine,
            "width": width,
            "height": height,
            "size": settings.size,
            "iterations": settings.iterations,
        }


def _add_style_routes(app: FastAPI, library: StyleLibrary) -> None:
    """/v1/styles: the style library, listed and added to."""

    @app.get("/v1/styles")
    async def list_styles():
        return {"styles": await run_in_threadpool(library.listing)}

    @app.post("/v1/styles", status_code=201)
    async def add_style(request: Request):
        form = await read_form(request, max_files=1)
        try:
            name = text_field(form, "name")
            image = form.get("image")
            if not name or image is None or isinstance(image, str):
                raise ApiError(
                    400,
                    "send the style's name as the text field name and its "
                    "image as the file field image",
                )
            data = await image.read()
        finally:
            await form.close()  # uploads spool to temporary files
        stored = await run_in_threadpool(library.add, name, data)
        return {"name": stored, "source": "user"}


def _add_job_routes(
    app: FastAPI, config: ServiceConfig, table: JobTable, library: StyleLibrary
) -> None:
    """/v1/jobs: list the jobs, submit one."""

    @app.get("/v1/jobs")
    async def list_jobs():
        table.prune()
        return {"jobs": [j.status() for j in table.jobs.values()]}

    @app.post("/v1/jobs", status_code=202)
    async def submit(request: Request):
        form = await read_form(request, max_files=2 * config.max_styles + 3)
        try:
            sub = await job_from_form(form, config, library)
        finally:
            await form.close()
        entry = table.submit(sub)
        log.info(
            "job %s queued (engine %s, size %s, %s iterations, %.1f MB of uploads held)",
            entry.id,
            sub.engine,
            sub.settings.size,
            sub.settings.iterations,
            entry.held / (1024 * 1024),
        )
        return JSONResponse(
            {"id": entry.id, "state": entry.state},
            status_code=202,
            headers={"Location": f"/v1/jobs/{entry.id}"},
        )


def _check_keepable(entry: ServiceJob) -> None:
    """409 for a job that has no current image to keep: finished, or still queued."""
    if entry.finished:
        raise ApiError(
            409,
            f"job {entry.id} has already finished ({entry.state}), so there is nothing to keep; "
            "fetch its result or submit it again",
        )
    if entry.job.state == QUEUED:
        raise ApiError(
            409,
            f"job {entry.id} is still waiting in the queue, so it has no image to keep yet; "
            "cancel it instead, or keep it once it runs",
        )
    if entry.frames:
        raise ApiError(
            409,
            f"job {entry.id} is a frame sequence, which cannot end on a half-made frame; "
            "cancel it instead (its finished frames stay to be fetched)",
        )


def png_response(png: bytes) -> Response:
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


def result_png(entry: ServiceJob) -> bytes:
    """A finished job's result; 409 with a sentence for a frame sequence or a job not done."""
    if entry.frames:
        raise ApiError(
            409,
            f"job {entry.id} is a frame sequence; fetch its frames from "
            f"/v1/jobs/{entry.id}/frames/1 to /v1/jobs/{entry.id}/frames/{entry.frames}",
        )
    if entry.state != DONE or entry.result is None:
        why = f": {entry.error}" if entry.error else ""
        raise ApiError(409, f"job {entry.id} has no result, it is {entry.state}{why}")
    return entry.result


def frame_png(entry: ServiceJob, index: str) -> bytes:
    """Frame `index` (1-based) of a frame sequence, once finished (also of a job cancelled
    or failed later); 404 for no such frame, 409 for one not finished."""
    number = int(index) if index.isdigit() else 0
    if not 1 <= number <= entry.frames:
        which = f"it has frames 1 to {entry.frames}" if entry.frames else "it is one image"
        raise ApiError(404, f"job {entry.id} has no frame {quote(index)}; {which}")
    png = entry.frame_results.get(number)
    if png is None:
        raise ApiError(
            409, f"frame {number} of job {entry.id} is not finished, the job is {entry.state}"
        )
    return png


def _add_one_job_routes(app: FastAPI, config: ServiceConfig, table: JobTable) -> None:
    """/v1/jobs/{id}: follow a job, fetch its result, keep its current image, cancel or forget
    it."""

    def find(job_id: str) -> ServiceJob:
        entry = table.get(job_id)
        if entry is None:
            raise ApiError(
                404,
                f"there is no job {quote(job_id)}; finished jobs are kept for "
                f"{config.keep_seconds / 60:g} minutes and none outlive a restart",
            )
        return entry

    def dropped(entry: ServiceJob) -> None:
        if entry.cancel_on_disconnect:
            log.info("job %s cancelled: its client disconnected", entry.id)
            table.cancel(entry)

    @app.get("/v1/jobs/{job_id}")
    async def job_status(job_id: str):
        return find(job_id).status()

    @app.get("/v1/jobs/{job_id}/events")
    async def job_events(job_id: str):
        return EventStream(table, find(job_id), on_dropped=dropped)

    @app.get("/v1/jobs/{job_id}/result")
    async def job_result(job_id: str):
        return png_response(result_png(find(job_id)))

    @app.get("/v1/jobs/{job_id}/frames/{index}")
    async def job_frame(job_id: str, index: str):
        return png_response(frame_png(find(job_id), index))

    @app.post("/v1/jobs/{job_id}/keep", status_code=202)
    async def keep_job(job_id: str):
        entry = find(job_id)
        _check_keepable(entry)
        log.info("job %s asked to keep its current image", entry.id)
        table.keep(entry)
        return JSONResponse(entry.status(), status_code=202)

    @app.delete("/v1/jobs/{job_id}")
    async def cancel_job(job_id: str):
        entry = find(job_id)
        if entry.finished:
            table.forget(entry)
            return {**entry.status(), "forgotten": True}
        log.info("job %s cancelled by its client", entry.id)
        table.cancel(entry)
        return entry.status()
