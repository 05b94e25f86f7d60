import sys

from steerlab.cli.main import main

sys.exit(main())
