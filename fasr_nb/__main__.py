"`python -m fasr_nb COMMAND ...` (and `torchrun -m fasr_nb train ...`) runs the `fasr` command."
import sys
from fasr_nb.cli import main

if __name__ == '__main__': sys.exit(main())
