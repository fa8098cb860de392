"""The dispatch engine core: fleet index, ETA model and matcher. numpy and scipy only."""
