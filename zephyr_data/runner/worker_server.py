"""Imported only by the worker server (``workers.start_workers`` preloads it first): the server
dies with the build that started it, and so, through their own parent-death signal, do the
workers it forked. Without this, a build killed with ``kill -9`` would leave its server (and any
worker waiting on it) behind."""

import os

from .workers import die_with_parent

die_with_parent(os.getppid())
