import sys

from vitedge.cli import main

sys.exit(main())
