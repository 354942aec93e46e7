"""``python -m qiflow`` runs the command line."""

from qiflow.cli import main

main()
