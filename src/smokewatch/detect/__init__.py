"""A camera day in, smoke events out: windows scored by a trained model, events, evidence,
the detections file, its report and alerts."""
