import sys

from controller._app import main

sys.exit(main())
