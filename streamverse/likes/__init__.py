"""Likes: one per user per stream."""
