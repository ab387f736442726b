"""The shared sample clips the video query screen's tests use (../shared/data/videos)."""

from __future__ import annotations

REFERENCE = "pattern-sd-grey-bar.mp4"  # an edit of Meta's TMK pattern sample
COPY = "pattern-sd-with-small-logo-bar.mp4"  # another edit of it (a logo over a corner)
UNRELATED = "doorknob-hd-no-bar.mp4"
