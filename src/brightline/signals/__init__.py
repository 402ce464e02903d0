"""Hash algorithms (signal types) behind one small interface; media decoding lives in media.py."""
