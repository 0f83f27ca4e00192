import sys

from aispendtrack_dev.bench.run import main

sys.exit(main())
