import sys

from modemd.cli import main

sys.exit(main())
