import sys

from proxynas.cli import main

sys.exit(main())
