# SPDX-License-Identifier: GPL-3.0-or-later
"""Companion: a desktop mascot that speaks assistant replies aloud with lip-sync."""

__version__ = "0.1.0"
