"""Run code inside the real Krita and the real GIMP 3, for the editor plug-in tests.

Standard library only. See README.md beside this file and docs of each function. The code lives
in three modules by role; this one gathers their names so tests can ``import editors``:

- ``krita_runner``: the full Krita 5.1 under Xvfb, in a throwaway HOME, driven by a small pykrita
  "driver" plug-in that runs a given ``drive(result)`` function once the main window exists,
  writes a JSON outcome and ends Krita with ``os._exit(0)``.
- ``gimp_runner``: GIMP 3 from Debian 13 in a debootstrap chroot (made by
  ``.ci/install-editors``), run as ``gimp-console`` in batch mode (or the GUI ``gimp`` under Xvfb
  for screenshots) inside a private mount namespace that has ``/proc`` mounted, so nothing stays
  mounted after it ends.
- ``xdisplay``: ``EditorError``, process groups, the ``Xvfb`` class, X input, screenshots and the
  checks for processes, mounts and X locks left behind.
"""

from __future__ import annotations

from gimp_runner import (  # noqa: F401
    GIMP_MARKER,
    _chroot_argv,
    _gimp_session_fill_screen,
    _stage_script,
    default_gimp_root,
    gimp_missing_reason,
    install_gimp_plugin,
    install_gimp_plugin_dir,
    remove_gimp_plugin,
    run_gimp_batch,
    run_gimp_gui_screenshot,
)
from krita_runner import (  # noqa: F401
    _DRIVER_INIT,
    DRIVER_NAME,
    KRITA_SCREEN,
    copy_krita_home,
    enable_krita_plugin,
    krita_available,
    krita_env,
    krita_missing_reason,
    krita_pykrita_dir,
    kritarc_path,
    kritarc_set,
    prepare_krita_home,
    run_krita,
    write_krita_plugin,
)
from xdisplay import (  # noqa: F401
    EditorError,
    Xvfb,
    _kill_group,
    _run_group,
    _tail,
    count_color,
    mounts_under,
    png_size,
    processes_in_root,
    processes_where,
    processes_with_home,
    x_server_locks,
)
