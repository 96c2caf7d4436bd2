import sys

from modemd.cli.main import main

sys.exit(main())
