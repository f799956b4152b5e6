"""Videos and audio: stored media, playback with HTTP Range, HLS packaging."""
