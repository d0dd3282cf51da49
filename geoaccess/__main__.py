import sys

from geoaccess.cli import main

sys.exit(main())
