"""`python -m bench`: run every benchmark against the running xae and write docs/benchmarks.md."""

from bench.run import main

raise SystemExit(main())
