from __future__ import annotations

from alerter.cli import main

raise SystemExit(main())
