"""``python -m imlib`` = the ``imlib`` command (so that ``torchrun -m imlib train --study a ...`` works)."""
from imlib.cli import main

raise SystemExit(main())
