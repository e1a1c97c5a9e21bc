import sys

from flowspin.cli import main

sys.exit(main())
