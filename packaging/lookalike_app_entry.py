"""Entry point of the windowed executable on Windows, ``lookalike-app.exe`` (no console window).

It takes the app's own arguments (``--similar FILE…``), as the pip ``lookalike-app`` gui-script does,
so the Explorer verb runs the same command line whichever way Lookalike was installed.
"""

import multiprocessing
import sys

from desktop.launcher import gui_main

if __name__ == "__main__":
    multiprocessing.freeze_support()
    sys.exit(gui_main())
