"""Registration with Krita: the docker factory and the ``nst_krita_open`` action.

The action (Tools > Scripts > Neural Style Transfer..., declared in ``nst_krita.action`` so
users can give it a shortcut) shows and raises the docker in the active window.
"""

from __future__ import annotations

import sys
import traceback

from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QDockWidget

from krita import DockWidgetFactory, DockWidgetFactoryBase, Extension, Krita

DOCKER_ID = "nst_krita_docker"
MIN_HEIGHT = 420  # the style strip, Stylize, progress, status and the preview
ACTION_ID = "nst_krita_open"


class NeuralStyleExtension(Extension):
    def setup(self):
        notifier = Krita.instance().notifier()
        notifier.setActive(True)
        notifier.windowCreated.connect(hide_live_docker)

    def createActions(self, window):
        action = window.createAction(ACTION_ID, "Neural Style Transfer...", "tools/scripts")
        action.triggered.connect(open_docker)


def find_docker(window=None):
    """The Neural Style docker of ``window`` (default: the active one), or None."""
    window = window or Krita.instance().activeWindow()
    if window is None:
        return None
    from .docker import NeuralStyleDocker

    for dock in window.qwindow().findChildren(QDockWidget):
        if isinstance(dock, NeuralStyleDocker) or dock.objectName() == DOCKER_ID:
            return dock
    return None


def open_docker():
    """Show the docker, bring its tab to the front, give it room in its dock column and put
    the focus on Stylize."""
    try:
        dock = find_docker()
        if dock is None:
            return
        dock.show()
        dock.raise_()
        if not dock.isFloating() and dock.height() < MIN_HEIGHT:
            window = Krita.instance().activeWindow().qwindow()
            window.resizeDocks([dock], [MIN_HEIGHT], Qt.Vertical)
        dock.stylize_button.setFocus()
    except Exception:
        traceback.print_exc(file=sys.stderr)


def find_live_docker(window=None):
    """The large live preview's docker of ``window`` (default: the active one), or None."""
    window = window or Krita.instance().activeWindow()
    if window is None:
        return None
    from .livepreview import LIVE_DOCKER_ID, LivePreviewDocker

    for dock in window.qwindow().findChildren(QDockWidget):
        if isinstance(dock, LivePreviewDocker) or dock.objectName() == LIVE_DOCKER_ID:
            return dock
    return None


def hide_live_docker():
    """The large live preview opens from the docker's Large preview button, not at start."""
    try:
        for window in Krita.instance().windows():
            dock = find_live_docker(window)
            if dock is not None:
                dock.hide()
    except Exception:
        traceback.print_exc(file=sys.stderr)


def register():
    from .docker import NeuralStyleDocker
    from .livepreview import LIVE_DOCKER_ID, LivePreviewDocker

    app = Krita.instance()
    app.addExtension(NeuralStyleExtension(app))
    app.addDockWidgetFactory(
        DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, NeuralStyleDocker)
    )
    app.addDockWidgetFactory(
        DockWidgetFactory(LIVE_DOCKER_ID, DockWidgetFactoryBase.DockRight, LivePreviewDocker)
    )
