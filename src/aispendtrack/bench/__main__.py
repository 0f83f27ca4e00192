import sys

from aispendtrack.bench.run import main

sys.exit(main())
