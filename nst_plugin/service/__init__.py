"""`nst serve`: the engine as a local HTTP service for the editor plug-ins.

One module per role, none importing FastAPI at package import time:

    config.py     the settings of one run and where its files live (log, style library)
    security.py   the checks every request passes: Host, Origin, token, body size
    uploads.py    a submitted form -> validated images and settings
    styles.py     the style library: bundled paintings and the user's uploads
    jobtable.py   the jobs: one JobRunner, kept results, progress bridged to asyncio
    events.py     a job's progress as a server-sent event stream
    app.py        the FastAPI app and its /v1 routes (`create_app(config)`)
    discovery.py  the discovery file the clients read, status and stop
    server.py     uvicorn on a loopback socket, signals, the log file, --idle-exit
    warmup.py     the engine loaded and compiled in the background once the service listens

The wire protocol is the one the host kit's client (`nst_plugin/hostkit/client.py`) speaks;
docs/SERVICE.md describes it.
"""
