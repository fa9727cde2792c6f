import sys

from newsclf.cli import main

sys.exit(main())
