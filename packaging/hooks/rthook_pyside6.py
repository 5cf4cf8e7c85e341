# SPDX-License-Identifier: GPL-3.0-or-later
"""PyInstaller's PySide6 runtime hook (``pyi_rth_pyside6``), without importing Qt at start.

The spec puts this file in place of PyInstaller's hook. Theirs ends with
``create_embedded_qt_conf``, which imports ``PySide6.QtCore`` only to find that the PyPI wheel
already embedded its own ``qt.conf`` (it does so when PySide6 is imported): that import loads
shiboken and Qt Core, 250-300 ms of every frozen start, ``companion say`` and ``--version``
included, which never use Qt. Everything else is theirs (PyInstaller 6.x, Apache-2.0): the
plugin and QML paths, the single-bindings check, the Windows and macOS library paths.
"""


def _pyi_rthook() -> None:
    import os
    import sys

    from _pyi_rth_utils import (  # type: ignore[import-not-found]  # PyInstaller's
        is_macos_app_bundle,
        prepend_path_to_environment_variable,
    )
    from _pyi_rth_utils import qt as qt_rth_utils

    qt_rth_utils.ensure_single_qt_bindings_package("PySide6")
    meipass: str = getattr(sys, "_MEIPASS", "")
    if sys.platform.startswith("win"):
        pyqt_path = os.path.join(meipass, "PySide6")
    else:
        pyqt_path = os.path.join(meipass, "PySide6", "Qt")
    os.environ["QT_PLUGIN_PATH"] = os.path.join(pyqt_path, "plugins")
    if is_macos_app_bundle:
        resources = os.path.normpath(
            os.path.join(meipass, "..", "Resources", os.path.relpath(pyqt_path, meipass))
        )
        os.environ["QML2_IMPORT_PATH"] = os.pathsep.join(
            [os.path.join(resources, "qml"), os.path.join(pyqt_path, "qml")]
        )
    else:
        os.environ["QML2_IMPORT_PATH"] = os.path.join(pyqt_path, "qml")
    if sys.platform.startswith("win"):
        prepend_path_to_environment_variable(meipass, "PATH")
    if sys.platform == "darwin" and not is_macos_app_bundle:
        prepend_path_to_environment_variable(meipass, "DYLD_LIBRARY_PATH")


_pyi_rthook()
del _pyi_rthook
