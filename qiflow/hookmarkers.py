"""The pluggy markers of qiflow's hooks, low in the house so that any layer may implement one."""

from __future__ import annotations

import pluggy

PROJECT_NAME = "qiflow"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
