"""Entry point of the PyInstaller bundle: ``lookalike`` (the app with no arguments, the CLI otherwise).

The same executable serves the app, the command line and the file-manager actions
(``lookalike integrate open FILE…``), as :func:`desktop.launcher.main` routes them.
"""

import multiprocessing
import sys

from desktop.launcher import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a no-op unless a library starts worker processes
    sys.exit(main())
