"""`python -m xae.admin`: how `xae-admin start` runs the server in the background."""

from xae.admin.cli import main

main()
