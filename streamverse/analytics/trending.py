"""The trending score: ``viewers + 0.5 * comments_per_minute + 0.1 * likes``.

Viewers weigh most because they are people watching now; chat rate shows a room is lively;
likes accumulate over a stream's life, so they count least. Ties break by title.
"""

from __future__ import annotations

TRENDING_SIZE = 10
VIEWER_WEIGHT, CHAT_WEIGHT, LIKE_WEIGHT = 1.0, 0.5, 0.1


def engagement_score(viewers: int, comments_per_minute: float, likes: int) -> float:
    score = VIEWER_WEIGHT * viewers + CHAT_WEIGHT * comments_per_minute + LIKE_WEIGHT * likes
    return round(score, 2)
