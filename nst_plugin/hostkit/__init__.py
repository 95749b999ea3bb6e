"""The host kit: what the Krita and GIMP plug-ins share, in the standard library only.

``nst install-host`` copies this package beside each plug-in (Krita: ``nst_krita/hostkit/``,
GIMP: ``plug-ins/nst-stylize/hostkit/``): the editors' embedded Pythons (3.8 and later) have no
numpy, no Pillow and no TensorFlow, so they reach the engines through the local service.
A plug-in keeps only what its editor's API makes different. The modules, by role:

    errors.py     ServiceError, Cancelled, PluginError and the one sentence a user sees
    client.py     the service's HTTP API: Client, EventStream, multipart forms
    discovery.py  finding the service, or starting it: connect(), nst-host.json
    png.py        8-bit PNG encoding and decoding of raw pixel buffers
    engines.py    the service's engines: the options they take, presets, readiness, strength
    choices.py    what the user chose (strength, size, quality...) and the options it sends
    styles.py     style images and names: file kinds, reading, the service's style library
    regions.py    regions (a style per mask) and the strength map, from selections and layers
    areas.py      the area a job processes: a selection's box plus a margin
    naming.py     result layer names
    progress.py   job states and the progress line
    jobs.py       one job in the service, run in a worker thread, cancellable, keepable
    estimates.py  how long a job will take here (the service's measure, or a first guess)
    preview.py    the quick preview: its engine, sizes, delay, and which request is current
"""
