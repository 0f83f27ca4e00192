import sys

from aispendtrack.cli.main import main

sys.exit(main())
